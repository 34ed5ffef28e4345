//! End-to-end tests of `kelp stream` (being written).
