//! Consecutive success/failure counting (HAProxy's rise/fall).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
}

#[derive(Debug, Clone)]
pub struct Threshold {
    rise: u32,
    fall: u32,
    health: Health,
    streak: u32,
}

impl Threshold {
    /// Starts up. `rise`/`fall` below 1 count as 1.
    pub fn new(rise: u32, fall: u32) -> Self {
        Threshold {
            rise: rise.max(1),
            fall: fall.max(1),
            health: Health::Up,
            streak: 0,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Count one attempt; returns the new health when it changed.
    pub fn record(&mut self, ok: bool) -> Option<Health> {
        let against = matches!(
            (self.health, ok),
            (Health::Up, false) | (Health::Down, true)
        );
        if !against {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let need = if ok { self.rise } else { self.fall };
        if self.streak < need {
            return None;
        }
        self.streak = 0;
        self.health = if ok { Health::Up } else { Health::Down };
        Some(self.health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_down_after_fall_and_up_after_rise_in_a_row() {
        let mut t = Threshold::new(2, 3);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a success resets the failure streak");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(Health::Down));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None, "a failure resets the success streak");
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Health::Up));
        assert_eq!(t.health(), Health::Up);
    }

    #[test]
    fn zero_thresholds_mean_one() {
        let mut t = Threshold::new(0, 0);
        assert_eq!(t.record(false), Some(Health::Down));
        assert_eq!(t.record(true), Some(Health::Up));
    }
}
