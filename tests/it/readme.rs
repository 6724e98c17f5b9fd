//! README.md shows code from the examples; these checks keep the copies identical.

/// The lines between the example's snippet markers.
fn snippet(example: &str) -> &str {
    let begin = "// [readme-snippet begin]\n";
    let start = example.find(begin).unwrap() + begin.len();
    let end = example.find("// [readme-snippet end]").unwrap();
    example[start..end].trim_end()
}

#[test]
fn readme_axum_snippet_is_the_example_verbatim() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../../examples/tracker_server.rs");
    let code = snippet(example);
    assert!(
        code.lines().count() > 10,
        "the snippet markers enclose the handler"
    );
    assert!(
        readme.contains(&format!("```rust,ignore\n{code}\n```")),
        "README's axum snippet differs from examples/tracker_server.rs: copy it again"
    );
}

#[test]
fn readme_gives_the_two_fresh_machine_commands() {
    let readme = include_str!("../../README.md");
    assert!(readme.contains("cargo run --example quickstart"));
    assert!(readme.contains("\ncargo test "));
    let ci = include_str!("../../.ci/run");
    assert!(
        ci.contains("\ncargo test\n"),
        ".ci/run runs README's test command"
    );
    assert!(ci.contains("cargo run --example quickstart"));
}
