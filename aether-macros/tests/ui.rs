//! Compile tests: what the macros accept, and the errors they give (`tests/ui/fail/*.rs`
//! with the expected `.stderr` beside each). Refresh the expectations with
//! `TRYBUILD=overwrite cargo test -p aether-macros --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
