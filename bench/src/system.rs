//! The machine and the process: CPU description, memory readings from `/proc`, the
//! date, and start-up time of the `jsruntime` CLI in a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};

/// What the report says about the machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPU model (`model name` in /proc/cpuinfo).
    pub cpu: String,
    /// Logical cores available to this process.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// /proc/loadavg (1, 5, 15 min) when the run started.
    pub load_at_start: String,
}

impl Machine {
    /// Reads /proc.
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")
                    .and_then(|rest| rest.split_once(':'))
            })
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned()),
            load_at_start: load_average(),
        }
    }
}

/// The first three fields of /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The machine's CPU time counters, from the first line of /proc/stat: how much time the
/// hypervisor gave to other guests while this one wanted to run (steal), out of all.
/// A section whose figures are worst cases (section 7's max) reads it around itself:
/// a vCPU descheduled by the hypervisor stalls whatever runs on it, for milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuCounters {
    total: u64,
    steal: u64,
}

impl CpuCounters {
    /// The counters now (zeros where /proc/stat cannot be read).
    pub fn now() -> CpuCounters {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .filter(|line| line.starts_with("cpu "))
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .filter_map(|field| field.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // user nice system idle iowait irq softirq steal guest guest_nice: guest time is
        // already counted in user and nice, so the total is the first eight.
        CpuCounters {
            total: fields.iter().take(8).sum(),
            steal: fields.get(7).copied().unwrap_or(0),
        }
    }

    /// The share of the machine's CPU time stolen since `earlier`, in percent (`None`
    /// when the counters did not move, or cannot be read).
    pub fn steal_percent_since(&self, earlier: &CpuCounters) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        (total > 0).then(|| steal as f64 * 100.0 / total as f64)
    }
}

/// CPU time (user + system) of this process, all threads, from /proc/self/stat.
/// Resolution: one clock tick (USER_HZ, 10 ms on Linux).
pub fn process_cpu_time() -> Duration {
    const USER_HZ: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start with field 3, `state`;
    // utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / USER_HZ)
}

/// Memory of this process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryReading {
    /// VmRSS: resident pages mapped by this process (shared pages count in every mapping).
    pub rss: u64,
    /// RssAnon: private anonymous memory (copy-on-write copies, heap).
    pub anon: u64,
    /// RssFile + RssShmem: resident file-backed and shared pages (the guest's memory
    /// image and compiled code).
    pub shared: u64,
    /// Pss from smaps_rollup: shared pages divided among the mappings that share them.
    pub pss: u64,
}

impl MemoryReading {
    /// Reads /proc/self/status and /proc/self/smaps_rollup.
    pub fn now() -> MemoryReading {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
        MemoryReading {
            rss: kib_field(&status, "VmRSS:"),
            anon: kib_field(&status, "RssAnon:"),
            shared: kib_field(&status, "RssFile:") + kib_field(&status, "RssShmem:"),
            pss: kib_field(&rollup, "Pss:"),
        }
    }
}

fn kib_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The CLI the start-up figures run: `JSRUNTIME_CLI`, else `target/release/jsruntime`.
pub fn cli_path() -> PathBuf {
    std::env::var_os("JSRUNTIME_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/jsruntime")
        })
}

/// Start-up times of the CLI.
#[derive(Debug, Clone, Default)]
pub struct CliStart {
    /// With an empty component cache: the guest is compiled with Cranelift first.
    pub cold: Vec<Duration>,
    /// With the compiled guest already cached.
    pub warm: Vec<Duration>,
}

/// Runs `jsruntime run trivial.js` as a child process and times spawn to the first
/// line of output. Each cold run gets an empty `XDG_CACHE_HOME`; the warm runs share
/// the cache the first cold run filled. Everything lives in a temporary directory that
/// is removed afterwards.
pub fn cli_start(cli: &Path, cold_runs: usize, warm_runs: usize) -> Result<CliStart> {
    let dir = std::env::temp_dir().join(format!("jsruntime-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = (|| {
        let script = dir.join("trivial.js");
        std::fs::write(&script, crate::workloads::TRIVIAL)?;
        let mut start = CliStart::default();
        for run in 0..cold_runs.max(1) {
            let cache = dir.join(format!("cache-{run}"));
            std::fs::create_dir_all(&cache)?;
            start.cold.push(time_cli(cli, &script, &cache)?);
        }
        for _ in 0..warm_runs {
            start
                .warm
                .push(time_cli(cli, &script, &dir.join("cache-0"))?);
        }
        Ok(start)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn time_cli(cli: &Path, script: &Path, cache: &Path) -> Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new(cli)
        .arg("run")
        .arg(script)
        .env("XDG_CACHE_HOME", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", cli.display()))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout).read_line(&mut line)?;
    }
    let elapsed = started.elapsed();
    let status = child.wait()?;
    if !status.success() || line.trim() != "2" {
        bail!(
            "{} run printed {line:?} and exited with {status}",
            cli.display()
        );
    }
    Ok(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_a_share_of_the_time_between_two_readings() {
        let earlier = CpuCounters {
            total: 1000,
            steal: 10,
        };
        let later = CpuCounters {
            total: 1200,
            steal: 30,
        };
        assert_eq!(later.steal_percent_since(&earlier), Some(10.0));
        assert_eq!(earlier.steal_percent_since(&earlier), None);
        assert_eq!(earlier.steal_percent_since(&later), None);
        let now = CpuCounters::now();
        assert!(now.total >= now.steal);
    }

    #[test]
    fn reads_kib_fields() {
        let status = "Name:\tx\nVmRSS:\t  1234 kB\nRssAnon:\t 12 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), 1234);
        assert_eq!(kib_field(status, "RssAnon:"), 12);
        assert_eq!(kib_field(status, "RssFile:"), 0);
    }

    #[test]
    fn cpu_time_grows() {
        let before = process_cpu_time();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(0u64);
        }
        assert!(process_cpu_time() > before);
    }

    #[test]
    fn today_is_a_date() {
        let date = today();
        assert_eq!(date.len(), 10);
        assert!(date.starts_with("20"));
    }
}
