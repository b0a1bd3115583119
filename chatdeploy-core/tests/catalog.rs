//! The service catalog: loading, lookups, rendering and every load error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::PathBuf;
use std::time::Duration;

use chatdeploy_core::catalog::{
    ApprovalMode, Catalog, CatalogProblem, LoadCatalogError, Placeholder, TemplateContext,
};
use chatdeploy_core::{ChannelId, GroupId, Principal, UserId};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn full() -> Catalog {
    match Catalog::load(fixture("full.toml")) {
        Ok(catalog) => catalog,
        Err(e) => panic!("full.toml should load: {e}"),
    }
}

fn user(id: &str) -> Principal {
    Principal::User(UserId::new(id))
}

fn group(id: &str) -> Principal {
    Principal::Group(GroupId::new(id))
}

const CTX: TemplateContext<'static> = TemplateContext {
    service: "app",
    version: "r-99.1.0",
    env: "staging",
    requester: "U05",
    deployment_id: "dep-7",
    ticket: Some("OPS-12"),
};

#[test]
fn full_config_loads_with_every_value() {
    let catalog = full();

    let chat = catalog.chat();
    assert_eq!(
        chat.deploy_channels(),
        [ChannelId::new("C0PRODDEPLOY"), ChannelId::new("G0HOTFIX")]
    );
    assert!(chat.is_deploy_channel(&ChannelId::new("G0HOTFIX")));
    assert!(!chat.is_deploy_channel(&ChannelId::new("C0RANDOM")));

    let roles = catalog.roles();
    assert_eq!(
        roles.deployers(),
        Some(&[user("U01"), group("group:devs")][..])
    );
    assert_eq!(roles.approvers(), [user("U02"), user("U03")]);

    let approval = catalog.approval();
    assert_eq!(approval.min_approvals(), 1);
    assert!(approval.allow_self_approval());
    assert_eq!(approval.timeout(), Duration::from_secs(90 * 60));

    let names: Vec<&str> = catalog.services().map(|s| s.name()).collect();
    assert_eq!(names, ["app", "ui"]);

    let app = catalog.service("app").expect("app exists");
    assert_eq!(app.name(), "app");
    assert_eq!(app.aliases(), ["api", "Backend"]);
    assert_eq!(app.description(), Some("Main API"));
    assert_eq!(app.version_pattern().as_str(), r"^r-\d+\.\d+\.\d+$");
    assert_eq!(app.version_example(), Some("r-99.1.0"));
    assert_eq!(app.document(), "Deploy-App");
    assert_eq!(app.document_version(), Some("3"));
    assert_eq!(app.approval_mode(), ApprovalMode::BeforeStart);
    assert!(app.approval_mode().requires_approval());
    assert_eq!(app.approvers(), [user("U04"), group("group:sre")]);
    assert_eq!(app.deployers(), Some(&[user("U05")][..]));
    assert_eq!(app.min_approvals(), 2);
    assert_eq!(app.environments(), ["production", "staging"]);
    assert_eq!(app.default_environment(), "production");
    assert_eq!(app.parameters().len(), 3);
    assert_eq!(
        app.parameters().get("ReleaseVersion").map(|t| t.as_str()),
        Some("{version}")
    );
    assert_eq!(
        app.release_url_template()
            .map(|t| t.placeholders().collect::<Vec<_>>()),
        Some(vec![Placeholder::Version])
    );
    assert_eq!(app.runbook(), Some("https://wiki.acme.dev/runbooks/app"));
}

#[test]
fn defaults_apply_where_nothing_is_written() {
    let catalog = full();
    let ui = catalog.service("ui").expect("ui exists");
    assert!(ui.aliases().is_empty());
    assert_eq!(ui.description(), None);
    assert_eq!(ui.version_example(), None);
    assert_eq!(ui.document_version(), None);
    assert_eq!(ui.approval_mode(), ApprovalMode::Document);
    // Effective roles fall back to [roles] and [approval].
    assert_eq!(ui.approvers(), [user("U02"), user("U03")]);
    assert_eq!(
        ui.deployers(),
        Some(&[user("U01"), group("group:devs")][..])
    );
    assert_eq!(ui.min_approvals(), 1);
    assert_eq!(ui.environments(), ["production"]);
    assert_eq!(ui.default_environment(), "production");
    assert!(ui.parameters().is_empty());
    assert_eq!(ui.release_url(&CTX), None);
    assert_eq!(ui.runbook(), None);

    let minimal = Catalog::from_toml_str(
        "[chat]\ndeploy_channels = [\"C1\"]\n[services.x]\nversion_pattern = '.'\ndocument = \"D\"\napproval = \"none\"\n",
        "minimal.toml",
    )
    .expect("minimal catalog loads");
    assert_eq!(minimal.roles().deployers(), None);
    assert!(minimal.roles().approvers().is_empty());
    assert_eq!(minimal.approval().min_approvals(), 1);
    assert!(!minimal.approval().allow_self_approval());
    assert_eq!(minimal.approval().timeout(), Duration::from_secs(2 * 3600));
    assert!(!ApprovalMode::None.requires_approval());
}

#[test]
fn lookups_ignore_case_for_names_and_aliases() {
    let catalog = full();
    for given in ["app", "APP", "api", "Api", "backend", "BACKEND", "Backend"] {
        let service = catalog.service(given).expect("found");
        assert_eq!(service.name(), "app", "looking up {given}");
    }
    assert_eq!(catalog.service("UI").map(|s| s.name()), Ok("ui"));
}

#[test]
fn unknown_service_suggests_the_closest_name_or_alias() {
    let catalog = full();
    let err = catalog.service("ap").expect_err("no service ap");
    assert_eq!(err.given, "ap");
    assert_eq!(err.suggestion.as_deref(), Some("app"));
    assert_eq!(err.known, ["app", "ui"]);
    assert_eq!(
        err.to_string(),
        "There is no service `ap`. Did you mean `app`? Known services: app, ui."
    );

    // Aliases are suggested as written in the catalog.
    let err = catalog.service("backnd").expect_err("typo");
    assert_eq!(err.suggestion.as_deref(), Some("Backend"));

    let err = catalog.service("database").expect_err("no such service");
    assert_eq!(err.suggestion, None);
    assert_eq!(
        err.to_string(),
        "There is no service `database`. Known services: app, ui."
    );

    // A name that is a service's but for look-alike characters says so.
    let err = catalog.service("\u{0430}pp").expect_err("Cyrillic а");
    assert_eq!(err.suggestion.as_deref(), Some("app"));
    let lookalike = err.lookalike.expect("a look-alike");
    assert_eq!((lookalike.found, lookalike.plain), ('\u{0430}', 'a'));
    assert_eq!(
        err.to_string(),
        "`\u{0430}pp` contains a look-alike character (Cyrillic \u{0430}, U+0430) where `a` belongs; type `app` with plain letters."
    );
    // Aliases too, in any case, and fullwidth letters.
    let err = catalog
        .service("\u{FF35}\u{FF29}")
        .expect_err("fullwidth UI");
    assert_eq!(
        err.to_string(),
        "`\u{FF35}\u{FF29}` contains a look-alike character (fullwidth \u{FF35}, U+FF35) where `U` belongs; type `ui` with plain letters."
    );
    let err = catalog.service("B\u{0430}ckend").expect_err("alias");
    assert_eq!(err.suggestion.as_deref(), Some("Backend"));
    assert!(err.lookalike.is_some());
    // A typo besides the look-alike is an ordinary unknown service.
    let err = catalog.service("B\u{0430}ckendd").expect_err("typo too");
    assert_eq!(err.lookalike, None);
    assert_eq!(err.suggestion.as_deref(), Some("Backend"));

    let long = "x".repeat(100);
    let err = catalog.service(&long).expect_err("no such service");
    assert_eq!(err.given.chars().count(), 40);
    assert!(err.to_string().len() < 120, "{err}");
}

#[test]
fn versions_are_checked_against_the_pattern() {
    let catalog = full();
    let app = catalog.service("app").expect("app");
    assert_eq!(app.check_version("r-99.1.0"), Ok(()));
    let err = app.check_version("99.1").expect_err("not a release tag");
    assert_eq!(err.service, "app");
    assert_eq!(err.version, "99.1");
    assert_eq!(err.example.as_deref(), Some("r-99.1.0"));
    assert_eq!(
        err.to_string(),
        r"`99.1` is not a version of app: it must match `^r-\d+\.\d+\.\d+$`, for example `r-99.1.0`."
    );

    let ui = catalog.service("ui").expect("ui");
    assert_eq!(ui.check_version("v12"), Ok(()));
    let err = ui.check_version("v12-beta").expect_err("anchored pattern");
    assert_eq!(
        err.to_string(),
        r"`v12-beta` is not a version of ui: it must match `^v\d+$`."
    );
}

#[test]
fn version_patterns_are_used_as_written() {
    let catalog = Catalog::from_toml_str(
        "[chat]\ndeploy_channels = [\"C1\"]\n[services.x]\nversion_pattern = '\\d+'\ndocument = \"D\"\napproval = \"none\"\n",
        "x.toml",
    )
    .expect("loads");
    let x = catalog.service("x").expect("x");
    // No anchors are added: a pattern without ^…$ matches inside a version.
    assert_eq!(x.check_version("release-12-final"), Ok(()));
    assert!(x.check_version("none").is_err());
}

#[test]
fn environments_default_and_ignore_case() {
    let catalog = full();
    let app = catalog.service("app").expect("app");
    assert_eq!(app.environment(None), Ok("production"));
    assert_eq!(app.environment(Some("staging")), Ok("staging"));
    assert_eq!(app.environment(Some("STAGING")), Ok("staging"));
    let err = app.environment(Some("qa")).expect_err("no qa");
    assert_eq!(err.service, "app");
    assert_eq!(err.given, "qa");
    assert_eq!(err.known, ["production", "staging"]);
    assert_eq!(
        err.to_string(),
        "app has no environment `qa`. Known environments: production, staging."
    );
}

#[test]
fn parameters_and_release_url_render_every_placeholder() {
    let catalog = full();
    let app = catalog.service("app").expect("app");
    let params = app.render_parameters(&CTX);
    assert_eq!(params["ReleaseVersion"], "r-99.1.0");
    assert_eq!(params["RequestedBy"], "U05");
    assert_eq!(params["Everything"], "app|staging|dep-7|OPS-12|{literal}");
    assert_eq!(params.len(), 3);

    let no_ticket = TemplateContext {
        ticket: None,
        ..CTX
    };
    assert_eq!(
        app.render_parameters(&no_ticket)["Everything"],
        "app|staging|dep-7||{literal}"
    );
    assert_eq!(
        app.release_url(&CTX).as_deref(),
        Some("https://github.com/acme/app/releases/tag/r-99.1.0")
    );
    assert_eq!(app.parameters().render(&CTX), params);
}

#[test]
fn approval_none_needs_no_approvers() {
    let text = "[chat]\ndeploy_channels = [\"C1\"]\n[services.docs]\nversion_pattern = '.'\ndocument = \"D\"\napproval = \"none\"\n";
    let catalog = Catalog::from_toml_str(text, "t.toml").expect("loads without approvers");
    let docs = catalog.service("docs").expect("docs");
    assert_eq!(docs.approval_mode(), ApprovalMode::None);
    assert!(docs.approvers().is_empty());
}

#[test]
fn unreadable_file_names_the_path() {
    let path = fixture("does-not-exist.toml");
    let err = Catalog::load(&path).expect_err("missing file");
    let LoadCatalogError::Read { path: reported, .. } = &err else {
        panic!("expected Read, got {err:?}");
    };
    assert_eq!(reported, &path);
    let message = err.to_string();
    assert!(message.contains("does-not-exist.toml"), "{message}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("chatdeploy.toml");
    std::fs::write(&path, "[chat]\ndeploy_channels = [\"two words\"]\n").expect("write");
    let err = Catalog::load(&path).expect_err("bad channel");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}:2:20: ", path.display())),
        "{message}"
    );
    assert!(matches!(
        err.problem(),
        Some(CatalogProblem::InvalidChannel { id, .. }) if id == "two words"
    ));
}

/// Lines 1–4 of most invalid configs below; services start on line 5.
const HEADER: &str =
    "[chat]\ndeploy_channels = [\"C0PRODDEPLOY\"]\n[roles]\napprovers = [\"U02\", \"U03\"]\n";

/// Lines 5–7: a valid service, so that the line under test is line 8.
const APP: &str = "[services.app]\nversion_pattern = '^r-\\d+$'\ndocument = \"Deploy-App\"\n";

/// `HEADER`, `APP`, then `line` as line 8.
fn app_with(line: &str) -> String {
    format!("{HEADER}{APP}{line}\n")
}

struct Invalid {
    name: &'static str,
    toml: String,
    /// `origin:line:column` the message must start with.
    at: &'static str,
    /// Parts the message must contain.
    says: &'static [&'static str],
    problem: fn(&CatalogProblem) -> bool,
}

fn invalid_cases() -> Vec<Invalid> {
    vec![
        Invalid {
            name: "unknown placeholder in a parameter",
            toml: app_with(r#"parameters = { ReleaseVersion = "tag-{versoin}" }"#),
            at: "t.toml:8:38",
            says: &[
                r#"service "app" uses unknown placeholder {versoin} in parameters.ReleaseVersion; use one of {service} {version} {env} {requester} {deployment_id} {ticket}"#,
            ],
            problem: |p| {
                matches!(p, CatalogProblem::UnknownPlaceholder { service, field, placeholder }
                    if service == "app" && field == "parameters.ReleaseVersion" && placeholder == "versoin")
            },
        },
        Invalid {
            name: "unknown placeholder in release_url",
            toml: app_with(r#"release_url = "https://x/{tag}""#),
            at: "t.toml:8:26",
            says: &["unknown placeholder {tag} in release_url"],
            problem: |p| matches!(p, CatalogProblem::UnknownPlaceholder { field, .. } if field == "release_url"),
        },
        Invalid {
            name: "unknown placeholder in an escaped string points at the value",
            toml: app_with(r#"release_url = "\u0041/{tag}""#),
            at: "t.toml:8:15",
            says: &["unknown placeholder {tag}"],
            problem: |p| matches!(p, CatalogProblem::UnknownPlaceholder { .. }),
        },
        Invalid {
            name: "unclosed placeholder",
            toml: app_with(r#"release_url = "https://x/{version""#),
            at: "t.toml:8:26",
            says: &["unclosed { in release_url", "{{"],
            problem: |p| matches!(p, CatalogProblem::UnclosedPlaceholder { field, .. } if field == "release_url"),
        },
        Invalid {
            name: "lone closing brace",
            toml: app_with(r#"parameters = { Tag = "version}" }"#),
            at: "t.toml:8:30",
            says: &["} without a matching { in parameters.Tag", "}}"],
            problem: |p| matches!(p, CatalogProblem::UnmatchedBrace { .. }),
        },
        Invalid {
            name: "alias equal to another service's name",
            toml: format!("{HEADER}{APP}[services.web]\naliases = [\"APP\"]\nversion_pattern = '.'\ndocument = \"D\"\n"),
            at: "t.toml:9:12",
            says: &[r#""APP" is used by both service "app" and service "web""#, "case-insensitively"],
            problem: |p| {
                matches!(p, CatalogProblem::DuplicateAlias { alias, first_service, second_service }
                    if alias == "APP" && first_service == "app" && second_service == "web")
            },
        },
        Invalid {
            name: "alias equal to another service's alias",
            toml: format!("{HEADER}[services.app]\naliases = [\"api\"]\nversion_pattern = '.'\ndocument = \"D\"\n[services.web]\naliases = [\"www\", \"Api\"]\nversion_pattern = '.'\ndocument = \"D\"\n"),
            at: "t.toml:10:19",
            says: &[r#""Api" is used by both service "app" and service "web""#],
            problem: |p| {
                matches!(p, CatalogProblem::DuplicateAlias { alias, first_service, second_service }
                    if alias == "Api" && first_service == "app" && second_service == "web")
            },
        },
        Invalid {
            name: "service names differing only in case",
            toml: format!("{HEADER}{APP}[services.App]\nversion_pattern = '.'\ndocument = \"D\"\n"),
            at: "t.toml:5:11",
            says: &[r#""app" is used by both service "App" and service "app""#],
            problem: |p| matches!(p, CatalogProblem::DuplicateAlias { .. }),
        },
        Invalid {
            name: "alias repeating the service's own name",
            toml: format!("{HEADER}[services.app]\naliases = [\"App\"]\nversion_pattern = '.'\ndocument = \"D\"\n"),
            at: "t.toml:6:12",
            says: &[r#"service "app" lists "App" twice"#],
            problem: |p| matches!(p, CatalogProblem::DuplicateAlias { .. }),
        },
        Invalid {
            name: "alias with a space",
            toml: format!("{HEADER}[services.app]\naliases = [\"main api\"]\nversion_pattern = '.'\ndocument = \"D\"\n"),
            at: "t.toml:6:12",
            says: &[r#""main api" cannot be a service name or alias"#],
            problem: |p| matches!(p, CatalogProblem::InvalidServiceName { .. }),
        },
        Invalid {
            name: "invalid regex",
            toml: format!("{HEADER}[services.app]\nversion_pattern = '^r-(\\d+$'\ndocument = \"D\"\n"),
            at: "t.toml:6:19",
            says: &[r#"service "app" has an invalid version_pattern "^r-(\d+$": unclosed group"#],
            problem: |p| {
                matches!(p, CatalogProblem::InvalidVersionPattern { service, pattern, .. }
                    if service == "app" && pattern == r"^r-(\d+$")
            },
        },
        Invalid {
            name: "empty version pattern",
            toml: format!("{HEADER}[services.app]\nversion_pattern = ''\ndocument = \"D\"\n"),
            at: "t.toml:6:19",
            says: &[r#"service "app" has an empty version_pattern"#],
            problem: |p| matches!(p, CatalogProblem::EmptyField { field, .. } if field == "version_pattern"),
        },
        Invalid {
            name: "empty document",
            toml: format!("{HEADER}[services.app]\nversion_pattern = '.'\ndocument = \" \"\n"),
            at: "t.toml:7:12",
            says: &[r#"service "app" has an empty document"#],
            problem: |p| matches!(p, CatalogProblem::EmptyField { field, .. } if field == "document"),
        },
        Invalid {
            name: "example not matching the pattern",
            toml: app_with(r#"version_example = "99.1""#),
            at: "t.toml:8:19",
            says: &[r#"service "app" has version_example "99.1", which does not match its version_pattern "^r-\d+$""#],
            problem: |p| {
                matches!(p, CatalogProblem::ExampleMismatch { example, pattern, .. }
                    if example == "99.1" && pattern == r"^r-\d+$")
            },
        },
        Invalid {
            name: "document approval without approvers",
            toml: "[chat]\ndeploy_channels = [\"C1\"]\n[services.app]\nversion_pattern = '.'\ndocument = \"D\"\napproval = \"document\"\n".to_owned(),
            at: "t.toml:6:12",
            says: &[r#"service "app" needs approval but has no approvers"#, r#"approval = "none""#],
            problem: |p| matches!(p, CatalogProblem::NoApprovers { service } if service == "app"),
        },
        Invalid {
            name: "before_start approval without approvers",
            toml: "[chat]\ndeploy_channels = [\"C1\"]\n[services.app]\nversion_pattern = '.'\ndocument = \"D\"\napproval = \"before_start\"\n".to_owned(),
            at: "t.toml:6:12",
            says: &[r#"service "app" needs approval but has no approvers"#],
            problem: |p| matches!(p, CatalogProblem::NoApprovers { .. }),
        },
        Invalid {
            name: "default approval mode without approvers",
            toml: "[chat]\ndeploy_channels = [\"C1\"]\n[services.app]\nversion_pattern = '.'\ndocument = \"D\"\n".to_owned(),
            at: "t.toml:3:11",
            says: &["needs approval but has no approvers"],
            problem: |p| matches!(p, CatalogProblem::NoApprovers { .. }),
        },
        Invalid {
            name: "empty per-service approvers override",
            toml: app_with("approvers = []"),
            at: "t.toml:8:13",
            says: &["needs approval but has no approvers"],
            problem: |p| matches!(p, CatalogProblem::NoApprovers { .. }),
        },
        Invalid {
            name: "more approvals than individual approvers",
            toml: app_with("min_approvals = 3"),
            at: "t.toml:8:17",
            says: &[r#"service "app" needs 3 approvals but only 2 approvers are listed"#],
            problem: |p| {
                matches!(p, CatalogProblem::UnsatisfiableApprovals { min_approvals: 3, approvers: 2, .. })
            },
        },
        Invalid {
            name: "bad principal in a service",
            toml: app_with(r#"approvers = ["U04", "alice smith"]"#),
            at: "t.toml:8:21",
            says: &[
                r#""alice smith" in services.app.approvers is not a user or user-group ID"#,
                "contains spaces",
            ],
            problem: |p| {
                matches!(p, CatalogProblem::InvalidPrincipal { field, id, .. }
                    if field == "services.app.approvers" && id == "alice smith")
            },
        },
        Invalid {
            name: "bad principal in roles",
            toml: format!("{HEADER}deployers = [\"group:\"]\n{APP}"),
            at: "t.toml:5:14",
            says: &[r#""group:" in roles.deployers is not a user or user-group ID"#],
            problem: |p| matches!(p, CatalogProblem::InvalidPrincipal { field, .. } if field == "roles.deployers"),
        },
        Invalid {
            name: "empty deployers",
            toml: format!("{HEADER}deployers = []\n{APP}"),
            at: "t.toml:5:13",
            says: &["roles.deployers is empty, so nobody could deploy"],
            problem: |p| matches!(p, CatalogProblem::EmptyDeployers { .. }),
        },
        Invalid {
            name: "bad duration",
            toml: format!("{HEADER}[approval]\ntimeout = \"2 hours\"\n{APP}"),
            at: "t.toml:6:11",
            says: &[r#"approval.timeout "2 hours" is not a valid duration"#, r#""1h30m""#],
            problem: |p| matches!(p, CatalogProblem::InvalidDuration { value, .. } if value == "2 hours"),
        },
        Invalid {
            name: "zero duration",
            toml: format!("{HEADER}[approval]\ntimeout = \"0m\"\n{APP}"),
            at: "t.toml:6:11",
            says: &["longer than zero"],
            problem: |p| matches!(p, CatalogProblem::InvalidDuration { .. }),
        },
        Invalid {
            name: "a timeout that would overflow a date",
            toml: format!("{HEADER}[approval]\ntimeout = \"100000000d\"\n{APP}"),
            at: "t.toml:6:11",
            says: &["longer than 30d, the most allowed"],
            problem: |p| matches!(p, CatalogProblem::InvalidDuration { .. }),
        },
        Invalid {
            name: "zero min_approvals",
            toml: format!("{HEADER}[approval]\nmin_approvals = 0\n{APP}"),
            at: "t.toml:6:17",
            says: &["approval.min_approvals is 0; it must be a whole number of at least 1"],
            problem: |p| matches!(p, CatalogProblem::InvalidMinApprovals { value: 0, .. }),
        },
        Invalid {
            name: "no deploy channels",
            toml: "[chat]\ndeploy_channels = []\n".to_owned(),
            at: "t.toml:2:19",
            says: &["chat.deploy_channels is empty"],
            problem: |p| matches!(p, CatalogProblem::NoDeployChannels),
        },
        Invalid {
            name: "a channel of two words",
            toml: "[chat]\ndeploy_channels = [\"C1\", \"#deploy room\"]\n".to_owned(),
            at: "t.toml:2:26",
            says: &[r##""#deploy room" in chat.deploy_channels is not a channel ID"##],
            problem: |p| matches!(p, CatalogProblem::InvalidChannel { id, .. } if id == "#deploy room"),
        },
        Invalid {
            name: "duplicate environment",
            toml: app_with(r#"environments = ["production", "Production"]"#),
            at: "t.toml:8:31",
            says: &[r#""Production" is listed twice"#],
            problem: |p| matches!(p, CatalogProblem::InvalidEnvironments { .. }),
        },
    ]
}

#[test]
fn invalid_configs_fail_with_located_messages() {
    for case in invalid_cases() {
        let err = match Catalog::from_toml_str(&case.toml, "t.toml") {
            Ok(_) => panic!("{}: should not load:\n{}", case.name, case.toml),
            Err(err) => err,
        };
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}: ", case.at)),
            "{}: expected position {}, got: {message}",
            case.name,
            case.at
        );
        for part in case.says {
            assert!(
                message.contains(part),
                "{}: message lacks {part:?}: {message}",
                case.name
            );
        }
        let LoadCatalogError::Invalid {
            origin, problem, ..
        } = &err
        else {
            panic!("{}: expected Invalid, got {err:?}", case.name);
        };
        assert_eq!(origin, "t.toml");
        assert!(
            (case.problem)(problem),
            "{}: wrong problem {problem:?}",
            case.name
        );
        assert_eq!(err.problem(), Some(&**problem));
    }
}

#[test]
fn no_services_is_an_error_without_position() {
    let err = Catalog::from_toml_str("[chat]\ndeploy_channels = [\"C1\"]\n", "t.toml")
        .expect_err("no services");
    assert_eq!(err.location(), None);
    assert!(matches!(err.problem(), Some(CatalogProblem::NoServices)));
    assert_eq!(
        err.to_string(),
        "t.toml: no services are configured; add at least one [services.<name>] table"
    );

    let err = Catalog::from_toml_str("[chat]\ndeploy_channels = [\"C1\"]\n[services]\n", "t.toml")
        .expect_err("empty services table");
    assert!(matches!(err.problem(), Some(CatalogProblem::NoServices)));
    assert_eq!(err.location().map(|(line, _)| line), Some(3));
}

#[test]
fn a_group_of_approvers_can_satisfy_any_minimum() {
    let text = format!("{HEADER}{APP}approvers = [\"group:sre\"]\nmin_approvals = 5\n");
    let catalog = Catalog::from_toml_str(&text, "t.toml").expect("a group may hold enough people");
    assert_eq!(catalog.service("app").map(|s| s.min_approvals()), Ok(5));
}

/// Errors from the TOML parser itself, or from the shape of the file.
fn syntax_error(text: &str) -> (usize, usize, String) {
    match Catalog::from_toml_str(text, "t.toml") {
        Err(LoadCatalogError::Syntax {
            origin,
            line,
            column,
            message,
        }) => {
            assert_eq!(origin, "t.toml");
            (line, column, message)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn toml_syntax_errors_have_line_and_column() {
    let text = "[chat]\ndeploy_channels = [\"C1\"\n[services.app]\n";
    let (line, column, _) = syntax_error(text);
    assert_eq!((line, column), (3, 1));
    let err = Catalog::from_toml_str(text, "t.toml").expect_err("syntax");
    assert!(err.to_string().starts_with("t.toml:3:1: "), "{err}");
}

#[test]
fn unknown_keys_are_named() {
    let (line, column, message) = syntax_error(&app_with(r#"colour = "blue""#));
    assert_eq!((line, column), (8, 1));
    assert!(message.contains("unknown field `colour`"), "{message}");

    let (line, _, message) = syntax_error(&format!("{HEADER}[chatt]\n{APP}"));
    assert_eq!(line, 5);
    assert!(message.contains("`chatt`"), "{message}");

    let text = format!("{HEADER}[approval]\ntimeout = \"2h\"\nself_approval = true\n{APP}");
    let err = Catalog::from_toml_str(&text, "t.toml").expect_err("unknown key");
    assert!(
        err.to_string()
            .starts_with("t.toml:7:1: unknown field `self_approval`"),
        "{err}"
    );
}

#[test]
fn wrong_values_and_missing_keys_are_reported() {
    let (line, column, message) = syntax_error(&app_with(r#"approval = "manual""#));
    assert_eq!((line, column), (8, 12));
    assert!(
        message.contains("manual") && message.contains("before_start"),
        "{message}"
    );

    let (_, _, message) = syntax_error(&format!("{HEADER}[services.app]\ndocument = \"D\"\n"));
    assert!(message.contains("version_pattern"), "{message}");

    let (_, _, message) = syntax_error("[roles]\napprovers = [\"U1\"]\n");
    assert!(message.contains("chat"), "{message}");
}
