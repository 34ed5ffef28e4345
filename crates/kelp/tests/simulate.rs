//! End-to-end tests of `kelp simulate` (being written).
