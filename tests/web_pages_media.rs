//! The web app in headless Chromium: every page is served, under its CSP,
//! and loads without errors.

mod common;

use std::time::Duration;

use classcast::auth::Role;
use common::{token, ClientProcess, ServerProcess};

#[test]
fn every_page_loads_under_its_content_security_policy() {
    let server = ServerProcess::start(&[]);
    let alice = token(Role::Instructor, "alice", None);
    ClientProcess::web_scenario("smoke.mjs", &server.url, &[("instructor", &alice)])
        .finish(Duration::from_secs(60));
}
