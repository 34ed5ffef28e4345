//! End-to-end tests of `kelp architecture` (being written).
