//! What a benchmark reports about the machine it ran on, so that figures from different or
//! noisy machines are labelled: the CPU's name, the 1-minute load average before the run, and
//! the share of CPU time the hypervisor took away (steal) while it ran. Linux only (`/proc`);
//! elsewhere each is absent.

/// The CPU's model name (`/proc/cpuinfo`), e.g. `AMD EPYC`.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn load_average_1m() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// All CPUs' time since boot, in clock ticks (the `cpu` line of `/proc/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq.
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
    /// Time the hypervisor gave this machine's virtual CPUs to someone else.
    pub steal: u64,
}

impl CpuTimes {
    /// Now, from `/proc/stat`.
    pub fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// From the text of `/proc/stat` (its first `cpu ` line).
    pub fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        if v.len() < 4 {
            return None;
        }
        Some(Self {
            busy: at(0) + at(1) + at(2) + at(5) + at(6),
            idle: at(3) + at(4),
            steal: at(7),
        })
    }

    /// The percentage of all CPU time from `self` to `later` that was stolen; `None` when no
    /// time passed.
    pub fn steal_percent_until(&self, later: &CpuTimes) -> Option<f64> {
        let d = |a: u64, b: u64| b.saturating_sub(a) as f64;
        let steal = d(self.steal, later.steal);
        let total = d(self.busy, later.busy) + d(self.idle, later.idle) + steal;
        (total > 0.0).then(|| 100.0 * steal / total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_and_measures_steal() {
        let a = CpuTimes::parse(
            "cpu  100 5 20 800 10 1 2 30 0 0\ncpu0 50 2 10 400 5 0 1 15 0 0\nintr 1\n",
        )
        .unwrap();
        assert_eq!(
            a,
            CpuTimes {
                busy: 128,
                idle: 810,
                steal: 30
            }
        );
        // 60 busy + 20 idle + 20 stolen ticks later: 20% stolen.
        let b = CpuTimes::parse("cpu  150 5 30 820 10 1 2 50 0 0\n").unwrap();
        assert_eq!(a.steal_percent_until(&b), Some(20.0));
        assert_eq!(a.steal_percent_until(&a), None);
        // Old kernels print fewer columns: no steal column counts as none.
        let old = CpuTimes::parse("cpu 1 2 3 4\n").unwrap();
        assert_eq!(old.steal, 0);
        assert!(CpuTimes::parse("cpu 1 2\n").is_none());
        assert!(CpuTimes::parse("intr 1 2 3 4\n").is_none());
        assert!(CpuTimes::parse("cpu 1 x 3 4\n").is_none());
    }

    #[test]
    fn this_machine_is_described_where_proc_exists() {
        if !std::path::Path::new("/proc/stat").exists() {
            eprintln!("skipped: no /proc on this system");
            return;
        }
        assert!(CpuTimes::now().is_some());
        assert!(load_average_1m().is_some_and(|l| l >= 0.0));
    }
}
