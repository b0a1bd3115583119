//! The sample configuration in `deploy/` loads: what a newcomer copies must
//! work as it is.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::Catalog;
use chatdeploy_core::catalog::ApprovalMode;

#[test]
fn the_example_config_loads_with_two_approval_modes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/chatdeploy.example.toml"
    );
    let catalog = Catalog::load(path).unwrap();
    let app = catalog.service("api").unwrap();
    assert_eq!(app.name(), "app");
    assert_eq!(app.approval_mode(), ApprovalMode::Document);
    assert_eq!(app.document(), "Deploy-App");
    let ui = catalog.service("web").unwrap();
    assert_eq!(ui.approval_mode(), ApprovalMode::BeforeStart);
    assert_eq!(ui.document(), "Deploy-UI");
    assert!(app.check_version("r-99.1.0").is_ok());
}
