//! The CPU one timed nap costs on this machine: the stdin reader waits between two looks at
//! the pipe in naps (`std::thread::sleep`, as here; 5 ms per MiB of pipe), and at a low rate
//! those naps, not the lines, are most of its work. `bench/live.py` prints it next to the
//! 1,000 lines/s targets.
//!
//! Usage: nap_cost [MS [NAPS]]   (default 100 naps of 5 ms); prints the CPU per nap in µs.

use std::process::ExitCode;
use std::time::Duration;

/// This thread's CPU time so far in ns (the first field of its schedstat).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() -> ExitCode {
    let arg = |i: usize, default: u32| match std::env::args().nth(i).map(|n| n.parse()) {
        None => Some(default),
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => None,
    };
    let (Some(ms), Some(naps)) = (arg(1, 5), arg(2, 100)) else {
        eprintln!("usage: nap_cost [MS [NAPS]]  (positive numbers)");
        return ExitCode::from(2);
    };
    let Some(start) = thread_cpu_ns() else {
        eprintln!("nap_cost: cannot read /proc/thread-self/schedstat");
        return ExitCode::FAILURE;
    };
    for _ in 0..naps {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
    }
    let Some(end) = thread_cpu_ns() else {
        eprintln!("nap_cost: cannot read /proc/thread-self/schedstat");
        return ExitCode::FAILURE;
    };
    println!("{:.1}", (end - start) as f64 / f64::from(naps) / 1000.0);
    ExitCode::SUCCESS
}
