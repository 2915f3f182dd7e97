//! The shipped systemd unit: valid, and sandboxed (systemd's own exposure score).

#[test]
fn the_systemd_unit_is_valid_and_sandboxed() {
    let Ok(v) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        println!("systemd-analyze not installed: skipped");
        return;
    };
    assert!(v.status.success());
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/localrecord.service")).unwrap();
    // verify wants the binary to exist; everything else is the shipped unit.
    let path = dir.path().join("localrecord.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/localrecord", "/bin/true")).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for localrecord.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(score <= 2.5, "exposure {score}: {text}");
    for must in [
        "User=localrecord",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.contains(must), "{must}");
    }
}
