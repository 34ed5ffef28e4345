//! End-to-end tests: they run the real `kelp` binary on real files.

mod architecture;
mod simulate;
mod stream;
