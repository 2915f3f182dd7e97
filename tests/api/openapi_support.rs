//! Helpers of the OpenAPI tests: the routes the source mounts, read from `src/http/` (so a new
//! route fails the coverage test until it is documented), and strict schema checks of real answers.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of the call whose `(` is at `open`, without the parentheses.
fn call_args(src: &str, open: usize) -> &str {
    let mut depth = 0;
    for (i, c) in src[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &src[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced call at {open}");
}

/// The axum method routers named in `expr` (`get(`, `.options(` ...), looking through a `let` binding.
fn methods(src: &str, expr: &str) -> Vec<String> {
    let expr = expr.trim().trim_end_matches(".clone()");
    if expr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !expr.contains('(') {
        let binding = format!("let {expr} = ");
        let at = src.find(&binding).unwrap_or_else(|| panic!("no binding for {expr}"));
        let end = src[at..].find(';').unwrap() + at;
        return methods(src, &src[at + binding.len()..end]);
    }
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    for m in METHODS {
        let pat = format!("{m}(");
        for (i, _) in expr.match_indices(&pat) {
            let before = if i == 0 { b' ' } else { bytes[i - 1] };
            if !(before.is_ascii_alphanumeric() || before == b'_') {
                found.push(m.to_owned());
            }
        }
    }
    assert!(!found.is_empty(), "no method in {expr:?}");
    found
}

/// A route's path expression: a literal, a `const`, or `&format!("{CONST}/...")`.
fn path(src: &str, expr: &str) -> String {
    let expr = expr.trim().trim_start_matches('&');
    let literal = |s: &str| s.trim().trim_matches('"').to_owned();
    if expr.starts_with('"') {
        return literal(expr);
    }
    let konst = |name: &str| {
        let decl = format!("const {name}: &str = ");
        let at = src.find(&decl).unwrap_or_else(|| panic!("no const {name}")) + decl.len();
        literal(&src[at..at + src[at..].find(';').unwrap()])
    };
    if let Some(fmt) = expr.strip_prefix("format!(") {
        let mut s = literal(fmt.trim_end_matches(')'));
        while let Some(a) = s.find('{').filter(|a| !s[*a..].starts_with("{{")) {
            let b = a + s[a..].find('}').unwrap();
            s = format!("{}{}{}", &s[..a], konst(&s[a + 1..b]), &s[b + 1..]);
        }
        return s.replace("{{", "{").replace("}}", "}");
    }
    konst(expr)
}

/// `(path, method)` of every `.route(...)` under `src/http/`. The HTML admin console (`/admin...`)
/// is not an API and is left out; `/x/` (a tus client's trailing slash) counts as `/x`.
pub fn mounted_routes() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for (at, _) in src.match_indices(".route(") {
            let args = call_args(&src, at + ".route".len());
            let comma = args
                .find(", ")
                .unwrap_or_else(|| panic!("route without method: {args}"));
            let p = path(&src, &args[..comma]);
            if p.starts_with("/admin") {
                continue;
            }
            let p = if p.len() > 1 {
                p.trim_end_matches('/').to_owned()
            } else {
                p
            };
            for m in methods(&src, &args[comma + 1..]) {
                out.insert((p.clone(), m));
            }
        }
    }
    out
}

/// `(path, method)` of every operation in the document.
pub fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (p, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((p.clone(), m.to_owned()));
            }
        }
    }
    out
}

/// Makes `schema` refuse properties it does not declare, wherever an object is used (not where it
/// is a part of an `allOf`, whose whole is checked instead): real answers must then carry exactly
/// the documented field names.
fn strict(schema: &mut Value, in_all_of: bool) {
    let Some(obj) = schema.as_object_mut() else { return };
    let has = |k: &str| obj.contains_key(k);
    if !in_all_of && (has("allOf") || has("$ref") || has("properties")) && !has("additionalProperties") {
        obj.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    for (k, v) in obj.iter_mut() {
        match k.as_str() {
            "allOf" => v.as_array_mut().unwrap().iter_mut().for_each(|s| strict(s, true)),
            "oneOf" | "anyOf" => v.as_array_mut().unwrap().iter_mut().for_each(|s| strict(s, false)),
            "items" => strict(v, false),
            "properties" => v.as_object_mut().unwrap().values_mut().for_each(|s| strict(s, false)),
            _ => {}
        }
    }
}

/// Checks `value` against `schema` (a schema from `doc`, whose `$ref`s point into its components)
/// made strict; panics with every violation.
pub fn assert_conforms(doc: &Value, schema: &Value, value: &Value, what: &str) {
    let errors = violations(doc, schema, value, what);
    assert!(
        errors.is_empty(),
        "{what}: {value} does not match its schema: {errors:#?}"
    );
}

/// What is wrong with `value` against the strict `schema`.
pub fn violations(doc: &Value, schema: &Value, value: &Value, what: &str) -> Vec<String> {
    let mut components = doc["components"].clone();
    for s in components["schemas"].as_object_mut().unwrap().values_mut() {
        strict(s, true);
    }
    let mut schema = schema.clone();
    strict(&mut schema, false);
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{what}: bad schema: {e}"));
    let errors = validator.iter_errors(value);
    errors.map(|e| format!("{e} at {}", e.instance_path())).collect()
}

/// The JSON schema of an operation's answer with `status`.
pub fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let s = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(s.is_object(), "{method} {path} documents no JSON answer for {status}");
    s
}

/// Every `$ref` anywhere in `node` that does not resolve inside `doc`.
pub fn dangling_refs(doc: &Value, node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let pointer = r.strip_prefix('#').unwrap_or(r);
                if doc.pointer(pointer).is_none() {
                    out.push(r.clone());
                }
            }
            m.values().for_each(|v| dangling_refs(doc, v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| dangling_refs(doc, v, out)),
        _ => {}
    }
}
