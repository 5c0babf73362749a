//! Rebuild the crate when a migration is added or changed: `sqlx::migrate!` embeds the SQL
//! files at compile time but cannot tell cargo about new ones itself.
fn main() {
    println!("cargo:rerun-if-changed=postgres");
    println!("cargo:rerun-if-changed=sqlite");
}
