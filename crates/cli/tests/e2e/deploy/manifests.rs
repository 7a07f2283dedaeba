//! The Kubernetes manifests and the systemd units, checked by the tools that
//! read them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use super::{BIN, deploy_dir, run_ok, said};

/// The Kubernetes objects (the kustomization is kustomize's, not an API
/// object: yamllint alone reads it).
const OBJECTS: [&str; 6] = [
    "namespace.yaml",
    "deployment.yaml",
    "service.yaml",
    "ingress.yaml",
    "pdb.yaml",
    "secret.example.yaml",
];

/// `kubernetes-validate --strict` on `files` in `dir`: whether it passed,
/// and what it said.
fn validate(dir: &Path, files: &[&str]) -> (bool, String) {
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap();
    (out.status.success(), said(&out))
}

#[test]
fn the_kubernetes_manifests_validate_and_say_what_the_strategies_need() {
    let test = "the manifests test";
    let (Some(yamllint), Some(_)) = (
        statecraft_testkit::program("yamllint", test),
        statecraft_testkit::program("kubernetes-validate", test),
    ) else {
        return;
    };
    let k8s = deploy_dir().join("k8s");
    let rules = k8s.join(".yamllint");
    run_ok(
        &yamllint,
        &[
            "--strict",
            "-c",
            rules.to_str().unwrap(),
            k8s.to_str().unwrap(),
        ],
    );
    let (passed, report) = validate(&k8s, &OBJECTS);
    assert!(passed, "{report}");
    assert_eq!(
        report.matches(" passed for resource ").count(),
        7,
        "{report}"
    );

    // The validator reads the schema: a misspelt field fails it.
    let dir = tempfile::tempdir().unwrap();
    let deployment = std::fs::read_to_string(k8s.join("deployment.yaml")).unwrap();
    let broken = deployment.replace("readinessProbe:", "readinesProbe:");
    std::fs::write(dir.path().join("deployment.yaml"), broken).unwrap();
    let (passed, report) = validate(dir.path(), &["deployment.yaml"]);
    assert!(!passed, "a misspelt field passed: {report}");

    // What the issue asks of them, by what they say.
    let read = |name: &str| std::fs::read_to_string(k8s.join(name)).unwrap();
    for wanted in [
        "readinessProbe:\n            httpGet:\n              path: /readyz",
        "livenessProbe:\n            httpGet:\n              path: /healthz",
        r#"command: ["/statecraft", "handover", "--settle", "5s"]"#,
        "secretKeyRef:\n                  name: statecraft-stores\n                  key: session-store",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
    ] {
        assert!(
            deployment.contains(wanted),
            "deployment.yaml lacks {wanted:?}"
        );
    }
    assert!(read("ingress.yaml").contains("nginx.ingress.kubernetes.io/affinity: \"cookie\""));
    assert!(read("service.yaml").contains("clusterIP: None"));
    assert!(read("pdb.yaml").contains("kind: PodDisruptionBudget"));
}

#[test]
fn the_systemd_units_verify_with_their_hardening() {
    let Some(analyze) = statecraft_testkit::program("systemd-analyze", "the units test") else {
        return;
    };
    let units = deploy_dir().join("systemd");
    // Verified as installed, with the binary where the units look for it
    // (/usr/local/bin/statecraft) being this test's.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&units).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for option in [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=\n",
        ] {
            assert!(
                text.contains(option),
                "{:?} lacks {option}",
                entry.file_name()
            );
        }
        let installed = text.replace("/usr/local/bin/statecraft", BIN);
        std::fs::write(dir.path().join(entry.file_name()), installed).unwrap();
    }
    let verify = |names: &[&str]| {
        let paths: Vec<String> = names
            .iter()
            .map(|n| dir.path().join(n).display().to_string())
            .collect();
        let out = Command::new(&analyze)
            .args(["verify", "--man=no"])
            .args(&paths)
            .output()
            .unwrap();
        // verify warns of a bad value and goes on: any line is a failure.
        let text = said(&out);
        (out.status.success() && text.trim().is_empty(), text)
    };
    let (clean, report) = verify(&[
        "statecraft@8081.service",
        "statecraft-gateway.service",
        "statecraft-service@orders.service",
    ]);
    assert!(clean, "{report}");
    // A misspelt value is caught.
    let path = dir.path().join("statecraft-gateway.service");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("ProtectSystem=strict", "ProtectSystem=strcit"),
    )
    .unwrap();
    let (clean, report) = verify(&["statecraft-gateway.service"]);
    assert!(!clean && report.contains("strcit"), "{report}");
}
