//! Black-box tests of prconfirm against real databases; the tests live under `tests/`.
