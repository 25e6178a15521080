use chatd::rudp::CongestionKind;
use chatd::rudp::scenario::{self, Scenario};
use std::time::Duration;
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let rtt: u64 = a[0].parse().unwrap();
    let p: f64 = a[1].parse().unwrap();
    let seed: u64 = a[2].parse().unwrap();
    let mut s = Scenario::new(
        CongestionKind::Bbr,
        100_000_000,
        Duration::from_millis(rtt),
        0,
    );
    s.loss = p;
    s.ack_loss = p;
    s.warmup = (s.rtt * 20).max(Duration::from_millis(500));
    s.total = (12_500_000.0 * (s.warmup.as_secs_f64() + 4.0) * (1.0 - p)) as u64;
    s.seed = seed;
    let m = scenario::run(&s);
    println!("{m:?}");
}
