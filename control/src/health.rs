//! Runs the health checkers: a thread with a current-thread tokio runtime,
//! one task per checked real server. A new plan (at start, on reload) keeps
//! the tasks whose check did not change, so their state survives; verdict
//! changes go back to the control loop over a channel.

use crate::daemon::RealKey;
use std::collections::HashMap;
use std::sync::mpsc;
use xlb_checks::{CheckSpec, Report};

pub struct HealthRunner {
    plans: tokio::sync::mpsc::UnboundedSender<HashMap<RealKey, CheckSpec>>,
    pub reports: mpsc::Receiver<(RealKey, Report)>,
}

impl HealthRunner {
    pub fn start() -> std::io::Result<HealthRunner> {
        let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<HashMap<RealKey, CheckSpec>>();
        let (rtx, rrx) = mpsc::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("xlb-checks".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut running: HashMap<RealKey, (CheckSpec, tokio::task::JoinHandle<()>)> =
                        HashMap::new();
                    while let Some(plan) = prx.recv().await {
                        running.retain(|k, (spec, task)| {
                            let keep = plan.get(k) == Some(spec);
                            if !keep {
                                task.abort();
                            }
                            keep
                        });
                        for (key, spec) in plan {
                            if running.contains_key(&key) {
                                continue;
                            }
                            let tx: mpsc::Sender<(RealKey, Report)> = rtx.clone();
                            let task = tokio::spawn(xlb_checks::run(spec.clone(), move |r| {
                                let _ = tx.send((key, r));
                            }));
                            running.insert(key, (spec, task));
                        }
                    }
                });
            })?;
        Ok(HealthRunner {
            plans: ptx,
            reports: rrx,
        })
    }

    /// Check exactly these real servers from now on.
    pub fn plan(&self, plan: HashMap<RealKey, CheckSpec>) {
        let _ = self.plans.send(plan);
    }
}
