//! The structure the README promises (issue 15): the server builds no recorder or X11 code, domain
//! modules do not reach into the HTTP layer, and functions stay short. Checked on the sources, so a
//! change that drifts fails here rather than in a review.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_server_depends_on_the_wire_types_not_on_the_recorder() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "localrecord",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.lines().any(|l| l.starts_with("localrecord-api ")), "{tree}");
    for crate_name in ["x11rb ", "localrecord-client "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(crate_name)),
            "the server builds {crate_name}"
        );
    }
}

#[test]
fn only_the_http_layer_and_the_composition_root_import_it() {
    // startup.rs builds the app on its listener and main.rs is the CLI: both wire the layers.
    let allowed = ["src/http/", "src/startup.rs", "src/main.rs"];
    let mut offenders = Vec::new();
    for f in rust_files(&Path::new(ROOT).join("src")) {
        let rel = f.strip_prefix(ROOT).unwrap().to_string_lossy().into_owned();
        if allowed.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        if std::fs::read_to_string(&f).unwrap().contains("crate::http") {
            offenders.push(rel);
        }
    }
    assert!(
        offenders.is_empty(),
        "domain modules importing the HTTP layer: {offenders:?}"
    );
}

/// Lines of each `fn` (outside `#[cfg(test)]` modules), by brace counting on lines with string and
/// char literals and comments blanked out.
fn long_functions(file: &Path, limit: usize) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let code = |l: &str| {
        let mut out = String::new();
        let mut chars = l.chars().peekable();
        let mut in_str = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' if in_str => {
                    chars.next();
                }
                '"' => in_str = !in_str,
                '/' if !in_str && chars.peek() == Some(&'/') => break,
                '\'' if !in_str => {
                    // a char literal ('{', '\n') or a lifetime ('a): skip the literal only
                    let rest: String = chars.clone().take(3).collect();
                    if rest.starts_with('\\') {
                        chars.nth(2);
                    } else if rest.chars().nth(1) == Some('\'') {
                        chars.nth(1);
                    }
                }
                _ if in_str => {}
                c => out.push(c),
            }
        }
        out
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let l = code(lines[i]);
        let t = l.trim_start();
        let is_fn = t.split(" fn ").count() > 1 || t.starts_with("fn ");
        if is_fn {
            let name = t
                .split("fn ")
                .nth(1)
                .unwrap_or("")
                .split(['(', '<'])
                .next()
                .unwrap_or("")
                .to_owned();
            let (mut depth, mut started, mut j) = (0i64, false, i);
            while j < lines.len() {
                let s = code(lines[j]);
                if !started && s.contains(';') && !s.contains('{') {
                    break;
                }
                depth += s.matches('{').count() as i64 - s.matches('}').count() as i64;
                started |= s.contains('{');
                if started && depth <= 0 {
                    break;
                }
                j += 1;
            }
            if started && j - i + 1 > limit {
                found.push((name, j - i + 1));
            }
        }
        i += 1;
    }
    found
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut long = Vec::new();
    let crates = ["src", "client/src", "api/src", "crypt/src"].map(|d| Path::new(ROOT).join(d));
    // (client/src/engine/tests.rs is a test module in a file of its own.)
    let files = crates
        .iter()
        .flat_map(|d| rust_files(d))
        .filter(|f| !f.ends_with("tests.rs"));
    for f in files {
        for (name, n) in long_functions(&f, 80) {
            long.push(format!(
                "{}: {name} ({n} lines)",
                f.strip_prefix(ROOT).unwrap().display()
            ));
        }
    }
    assert!(long.is_empty(), "split these: {long:#?}");
}

#[test]
fn the_length_check_counts_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.rs");
    let body: String = (0..85).map(|i| format!("    let _v{i} = '{{'; // }} {{\n")).collect();
    let src = format!(
        "pub async fn long_one<T>(x: T) -> T {{\n{body}    x\n}}\n\nfn short() {{\n    let s = \"}}}}\";\n}}\n\nfn decl();\n\n#[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{body}    }}\n}}\n"
    );
    std::fs::write(&f, src).unwrap();
    assert_eq!(long_functions(&f, 80), vec![("long_one".to_owned(), 88)]);
}
