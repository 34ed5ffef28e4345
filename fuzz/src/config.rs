//! The configuration readers on arbitrary text: `kelp server`'s YAML with `KELP_*`
//! environment overrides (then the store, series and query settings derived from it),
//! the server's token file, and `kelp agent`'s YAML with its overrides. Never panics;
//! a server config that validates derives its store settings without error.
//!
//! Input: the text up to the first NUL is the YAML; the rest is `NAME=value` lines, the
//! environment (given to the server as `KELP_SERVER_NAME`, to the agent as `KELP_AGENT_NAME`).

use kelp_agent::config::AgentFileConfig;
use kelp_server::auth::TokenSet;
use kelp_server::ServerConfig;

/// One input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (yaml, env) = text.split_once('\0').unwrap_or((&text, ""));
    let vars: Vec<(&str, &str)> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let env = |prefix: &str| -> Vec<(String, String)> {
        vars.iter()
            .map(|(n, v)| (format!("{prefix}{n}"), v.to_string()))
            .collect()
    };
    if let Ok(cfg) = ServerConfig::from_yaml(yaml, env(kelp_server::config::ENV_PREFIX)) {
        cfg.store_config()
            .expect("a validated config has store settings");
        cfg.series_config()
            .expect("a validated config has series settings");
        let _ = cfg.query_limits();
    }
    let _ = TokenSet::parse(yaml);
    if let Ok(agent) = AgentFileConfig::from_yaml(yaml, env(kelp_agent::config::ENV_PREFIX)) {
        let _ = agent.into_agent_config("node-1".to_string());
    }
}
