//! Every thread but the workers (control, VRRP, health checks, sync, the
//! proxy's runtime, the API) keeps off the workers' cores: a busy-polling
//! worker owns its core, and a sync sender or a check scheduled beside it
//! would take its time slices (measured: the NAT rate with sync on fell to
//! 0.80x in the runs where the sender shared the worker's core). Set on
//! the daemon's first thread before it starts any other, so that all
//! later threads inherit it; each worker then pins itself to its own core.

/// The cores the other threads may use: every online core no worker is
/// pinned to. `None` when that leaves nothing (every core has a worker)
/// or no worker is pinned: then nothing is restricted.
pub fn others(worker_cores: &[Option<usize>], online: &[usize]) -> Option<Vec<usize>> {
    let pinned: Vec<usize> = worker_cores.iter().flatten().copied().collect();
    if pinned.is_empty() {
        return None;
    }
    let rest: Vec<usize> = online
        .iter()
        .copied()
        .filter(|c| !pinned.contains(c))
        .collect();
    (!rest.is_empty()).then_some(rest)
}

/// Restrict the calling thread (and the threads it starts from now on) to
/// the cores the workers leave; returns them, or `None` if nothing was
/// restricted.
pub fn keep_off_worker_cores(
    worker_cores: &[Option<usize>],
) -> std::io::Result<Option<Vec<usize>>> {
    let online: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let Some(cores) = others(worker_cores, &online) else {
        return Ok(None);
    };
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in &cores {
        // SAFETY: CPU_SET writes one bit of a live set; `c` is an online
        // core's index, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; the set is a live cpu_set_t of
    // the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Some(cores))
}

#[cfg(test)]
mod tests {
    use super::others;

    #[test]
    fn the_other_threads_get_the_cores_no_worker_has() {
        assert_eq!(others(&[Some(0)], &[0, 1]), Some(vec![1]));
        assert_eq!(others(&[Some(1), Some(3)], &[0, 1, 2, 3]), Some(vec![0, 2]));
        // Every core has a worker, or no worker is pinned: no restriction.
        assert_eq!(others(&[Some(0), Some(1)], &[0, 1]), None);
        assert_eq!(others(&[None, None], &[0, 1]), None);
    }
}
