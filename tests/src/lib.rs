//! Black-box tests of prconfirm against real databases; the tests live under `tests/`. What
//! several of them share sits here: [`relay`], a real SMTP server for the delivery tests
//! (and the mail benchmark).

pub mod relay;
