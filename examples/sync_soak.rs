//! Long runs of the Sync model (tests/model): many seeds, many steps, against a release
//! build of the server. Prints figures per seed and the first broken invariant with the seed
//! that reproduces it.
//!
//!     cargo build --release && cargo run --release --example sync_soak -- [SEEDS] [STEPS] [FIRST_SEED]
//!
//! Defaults: 20 seeds of 5,000 steps from seed 1000. Exits 1 on the first failure.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/model/mod.rs"]
mod model;

use std::time::Instant;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: SEEDS STEPS FIRST_SEED"))
        .collect();
    let seeds = args.first().copied().unwrap_or(20);
    let steps = args.get(1).copied().unwrap_or(5_000) as usize;
    let first = args.get(2).copied().unwrap_or(1_000);
    if std::env::var_os("EASD_BIN").is_none() {
        std::env::set_var("EASD_BIN", "target/release/easd");
    }
    let started = Instant::now();
    let mut total_steps = 0;
    let mut total_syncs = 0;
    for seed in first..first + seeds {
        let server = common::TestServer::start();
        let mut simulation = model::Simulation::new(&server, seed, 3);
        let t = Instant::now();
        let outcome = simulation.run(steps);
        let stats = &simulation.stats;
        total_steps += stats.steps;
        total_syncs += stats.syncs;
        match outcome {
            Ok(()) => println!(
                "seed {seed}: ok in {:.1} s — {} syncs, {} lost answers, {} adds, {} changes, \
                 {} deletes, {} soft deletes, {} consistency checks",
                t.elapsed().as_secs_f64(),
                stats.syncs,
                stats.lost_answers,
                stats.adds,
                stats.changes,
                stats.deletes,
                stats.soft_deletes,
                stats.checks
            ),
            Err(failure) => {
                println!("seed {seed}: FAILED: {failure}");
                println!(
                    "reproduce: EASD_MODEL_SEED={seed} EASD_MODEL_STEPS={steps} cargo test --test sync_model"
                );
                std::process::exit(1);
            }
        }
    }
    println!(
        "{seeds} seeds, {total_steps} steps, {total_syncs} syncs: every invariant held ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}
