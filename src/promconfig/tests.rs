use super::*;

fn check(text: &str) -> Result<Checked, Invalid> {
    check_config(&serde_yaml_ng::from_str(text).expect("test YAML parses"))
}

/// The error of a configuration, as `path: message`.
fn refused(text: &str) -> String {
    check(text).expect_err(text).to_string()
}

/// Each case: a configuration and words its error must contain, path first.
fn assert_refused(cases: &[(&str, &str)]) {
    for (text, words) in cases {
        let error = refused(text);
        assert!(
            error.contains(words),
            "{text:?}\n  gave: {error}\n  want: {words}"
        );
    }
}

#[test]
fn the_2018_example_and_an_empty_config_are_accepted() {
    let example = "global:\n  scrape_interval: 30s\n  scrape_timeout: 10s\n  evaluation_interval: 30s\n\
                   scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets:\n          - localhost:9090\n";
    assert_eq!(check(example), Ok(Checked { names: Names::Utf8 }));
    assert!(check("").is_ok());
    assert!(check("{}").is_ok());
}

#[test]
fn unknown_keys_are_refused_with_their_path_in_every_section() {
    assert_refused(&[
        (
            "nonexistent_field: 1\n",
            "nonexistent_field: Prometheus v3.14.0 has no such key here",
        ),
        (
            "global:\n  scrape_intervall: 1m\n",
            "global.scrape_intervall: Prometheus",
        ),
        (
            "scrape_configs:\n- job_name: a\n  consult_sd_configs: []\n",
            "scrape_configs[0].consult_sd_configs: Prometheus",
        ),
        (
            "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces: {foo: [x]}\n",
            "scrape_configs[0].kubernetes_sd_configs[0].namespaces.foo",
        ),
        (
            "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - sourcelabels: [a]\n",
            "scrape_configs[0].relabel_configs[0].sourcelabels",
        ),
        (
            "remote_write:\n- url: http://x\n  queue_config: {max_shard: 2}\n",
            "remote_write[0].queue_config.max_shard",
        ),
    ]);
    // Keys of every kind of section are known, including inlined HTTP client keys and service discoveries.
    assert!(
        check(
            "scrape_configs:\n- job_name: a\n  tls_config: {min_version: TLS12}\n  follow_redirects: false\n  \
             http_headers: {X-A: {values: [b]}}\n  dns_sd_configs: [{names: [a.b], type: SRV}]\n"
        )
        .is_ok()
    );
}

#[test]
fn values_must_be_of_their_kind() {
    assert_refused(&[
        (
            "global:\n  scrape_interval: 1x\n",
            "global.scrape_interval: \"1x\" is not a duration",
        ),
        ("global:\n  scrape_interval: -1h\n", "is not a duration"),
        (
            "global:\n  body_size_limit: 100\n",
            "global.body_size_limit: \"100\" is not a size",
        ),
        (
            "global:\n  sample_limit: -1\n",
            "global.sample_limit: must be a non-negative integer",
        ),
        (
            "global:\n  external_labels: [a]\n",
            "global.external_labels: must be a mapping",
        ),
        (
            "global:\n  external_labels:\n    \"\": x\n",
            "is not a valid label name",
        ),
        (
            "scrape_configs:\n- job_name: a\n  honor_labels: maybe\n",
            "honor_labels: must be true or false",
        ),
        ("scrape_configs: {a: b}\n", "scrape_configs: must be a list"),
        ("scrape_configs:\n-\n", "scrape_configs[0]: is empty (null)"),
        (
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: {a: b}}]\n",
            "targets: must be a list",
        ),
    ]);
    // YAML 1.1 booleans and a zero duration, as Prometheus's parser reads them.
    assert!(
        check("scrape_configs:\n- job_name: a\n  honor_labels: yes\n  scrape_timeout: 0\n").is_ok()
    );
}

#[test]
fn label_names_follow_the_configured_scheme() {
    let legacy = "global:\n  metric_name_validation_scheme: legacy\n  external_labels:\n    service.name: x\n";
    assert!(refused(legacy).contains(
        "global.external_labels.service.name: \"service.name\" is not a valid label name"
    ));
    assert!(check("global:\n  external_labels:\n    service.name: x\n").is_ok());
    assert!(
        refused("global:\n  metric_name_validation_scheme: ascii\n")
            .contains("unknown name validation scheme")
    );
    assert_eq!(
        check("global:\n  metric_name_validation_scheme: legacy\n").map(|c| c.names),
        Ok(Names::Legacy)
    );
}

#[test]
fn scrape_configs_follow_prometheus_rules() {
    assert_refused(&[
        (
            "scrape_configs:\n- scrape_interval: 1m\n",
            "scrape_configs[0].job_name: must be set",
        ),
        (
            "scrape_configs:\n- job_name: a\n- job_name: a\n",
            "scrape_configs[1].job_name: \"a\" is used by an earlier entry",
        ),
        (
            "scrape_configs:\n- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
            "scrape_configs[0].scrape_timeout: is greater than the scrape interval",
        ),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            "global.scrape_timeout: is greater",
        ),
        (
            "scrape_configs:\n- job_name: a\n  scrape_protocols: [prometheusproto]\n",
            "scrape_protocols[0]: unknown scrape protocol \"prometheusproto\"",
        ),
        (
            "scrape_configs:\n- job_name: a\n  scrape_protocols: [PrometheusProto, PrometheusProto]\n",
            "PrometheusProto is listed twice",
        ),
        (
            "scrape_configs:\n- job_name: a\n  metric_name_validation_scheme: legacy\n  metric_name_escaping_scheme: allow-utf-8\n",
            "allow-utf-8 (UTF-8 metric names) needs metric_name_validation_scheme utf8",
        ),
        (
            "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['http://bad']}]\n",
            "static_configs[0].targets[0]: \"http://bad\" is not a valid host:port",
        ),
        (
            "rule_files: ['my/*/rule']\n",
            "rule_files[0]: \"my/*/rule\" is not a valid file path",
        ),
    ]);
    // A scrape interval shorter than the global timeout lowers the timeout instead.
    assert!(check("scrape_configs:\n- job_name: a\n  scrape_interval: 5s\n").is_ok());
}

#[test]
fn relabel_configs_follow_prometheus_rules() {
    let relabel =
        |rule: &str| format!("scrape_configs:\n- job_name: a\n  relabel_configs:\n  - {rule}\n");
    for (rule, words) in [
        (
            "{regex: 'abc(def'}",
            "relabel_configs[0].regex: \"abc(def\" is not an RE2 regular expression",
        ),
        ("{action: ''}", "relabel_configs[0].action: cannot be empty"),
        ("{action: rename}", "unknown relabel action \"rename\""),
        (
            "{action: hashmod, target_label: a}",
            "modulus: must be set and non-zero for action hashmod",
        ),
        (
            "{action: replace}",
            "target_label: must be set for action replace",
        ),
        (
            "{action: lowercase, target_label: a, replacement: b}",
            "replacement: cannot be set for action lowercase",
        ),
        (
            "{action: labeldrop, regex: a, target_label: b}",
            "target_label: action labeldrop takes only regex",
        ),
        (
            "{action: keepequal, source_labels: [a], target_label: b, regex: c}",
            "takes only source_labels and target_label",
        ),
        (
            "{source_labels: ['']}",
            "source_labels[0]: \"\" is not a valid label name",
        ),
    ] {
        let error = refused(&relabel(rule));
        assert!(error.contains(words), "{rule}: {error}");
    }
    // Actions are case-insensitive; the defaults may be written out.
    assert!(
        check(&relabel(
            "{action: Keep, regex: '(?i)up|down', separator: ';'}"
        ))
        .is_ok()
    );
    assert!(check(&relabel("{action: labelmap, regex: '__meta_(.+)'}")).is_ok());
    let legacy = "global:\n  metric_name_validation_scheme: legacy\nscrape_configs:\n- job_name: a\n  relabel_configs:\n  - {target_label: a.b}\n";
    assert!(refused(legacy).contains("\"a.b\" is not a valid label name for action replace"));
}

#[test]
fn http_clients_allow_one_way_to_authenticate() {
    assert_refused(&[
        (
            "scrape_configs:\n- job_name: a\n  bearer_token: x\n  bearer_token_file: y\n",
            "scrape_configs[0]: at most one of bearer_token, bearer_token_file may be set",
        ),
        (
            "scrape_configs:\n- job_name: a\n  basic_auth: {username: u}\n  bearer_token: x\n",
            "at most one of basic_auth, oauth2, bearer_token",
        ),
        (
            "scrape_configs:\n- job_name: a\n  basic_auth: {username: u}\n  authorization: {credentials: x}\n",
            "at most one of basic_auth, oauth2 and authorization",
        ),
        (
            "scrape_configs:\n- job_name: a\n  oauth2: {client_id: a}\n",
            "oauth2.token_url: must be set",
        ),
        (
            "scrape_configs:\n- job_name: a\n  no_proxy: localhost\n",
            "no_proxy: needs proxy_url",
        ),
        (
            "remote_write:\n- url: http://x\n  basic_auth: {username: u}\n  sigv4: {region: r}\n",
            "at most one of basic_auth, authorization, oauth2, sigv4, azuread, google_iam",
        ),
        (
            "remote_write:\n- url: http://x\n  headers: {Authorization: x}\n",
            "headers.Authorization: is a header Prometheus sets itself",
        ),
        (
            "remote_read:\n- name: a\n",
            "remote_read[0].url: must be set",
        ),
        (
            "remote_write:\n- url: http://x\n  queue_config: {min_shards: 9, max_shards: 2}\n",
            "min_shards: must not be greater than max_shards",
        ),
        (
            "remote_write:\n- url: http://x\n  queue_config: {capacity: 0}\n",
            "queue_config.capacity: must be positive",
        ),
        (
            "alerting:\n  alertmanagers:\n  - api_version: v1\n",
            "alertmanagers[0].api_version: \"v1\" is not one of v2",
        ),
    ]);
}

#[test]
fn storage_tracing_and_otlp_follow_prometheus_rules() {
    assert_refused(&[
        (
            "storage:\n  tsdb:\n    retention:\n      percentage: 101\n",
            "storage.tsdb.retention.percentage: must be in the range",
        ),
        (
            "storage:\n  tsdb:\n    retention:\n      size: -1GB\n",
            "storage.tsdb.retention.size: must be greater than or equal to 0",
        ),
        (
            "storage:\n  tsdb:\n    chunk_encoding:\n      floats: XOR\n",
            "floats: \"XOR\" is not one of xor, xor2",
        ),
        (
            "tracing:\n  client_type: grpc\n",
            "tracing.endpoint: must be set",
        ),
        (
            "tracing:\n  endpoint: x\n  compression: foo\n",
            "tracing.compression: \"foo\" is not one of gzip",
        ),
        (
            "otlp:\n  ignore_resource_attributes: [a]\n",
            "otlp.ignore_resource_attributes: needs promote_all_resource_attributes",
        ),
        (
            "otlp:\n  promote_resource_attributes: [a, ' a ']\n",
            "promote_resource_attributes[1]: \"a\" is listed twice",
        ),
        (
            "global:\n  metric_name_validation_scheme: legacy\notlp:\n  translation_strategy: NoTranslation\n",
            "otlp.translation_strategy: \"NoTranslation\" is not one of UnderscoreEscapingWithSuffixes",
        ),
    ]);
}

#[test]
fn service_discoveries_follow_their_own_rules() {
    let sd = |kind: &str, body: &str| {
        format!("scrape_configs:\n- job_name: a\n  {kind}_sd_configs:\n  - {body}\n")
    };
    for (text, words) in [
        (
            sd("kubernetes", "{}"),
            "kubernetes_sd_configs[0].role: must be set",
        ),
        (
            sd("kubernetes", "{role: pods}"),
            "role: \"pods\" is not one of pod, service",
        ),
        (
            sd("kubernetes", "{role: node, selectors: [{role: pod}]}"),
            "selectors[0].role: role node supports only node selectors",
        ),
        (
            sd(
                "kubernetes",
                "{role: pod, selectors: [{role: pod}, {role: pod}]}",
            ),
            "selectors[1].role: a selector of role pod comes earlier",
        ),
        (
            sd(
                "kubernetes",
                "{role: pod, api_server: 'https://k', kubeconfig_file: f}",
            ),
            "at most one of api_server and kubeconfig_file",
        ),
        (
            sd("kubernetes", "{role: pod, bearer_token: x}"),
            "api_server: must be set to use an HTTP client configuration",
        ),
        (
            sd(
                "kubernetes",
                "{role: pod, selectors: [{role: pod, field: 'metadata.status-Running'}]}",
            ),
            "is not a field selector term",
        ),
        (
            sd("openstack", "{role: nova, region: r}"),
            "openstack_sd_configs[0].role: \"nova\" is not one of",
        ),
        (
            sd("marathon", "{}"),
            "servers: must list at least one Marathon server",
        ),
        (
            sd(
                "azure",
                "{subscription_id: s, authentication_method: ManagedIdentity, client_id: c, foo: 1}",
            ),
            "foo: Prometheus",
        ),
        (
            sd("azure", "{subscription_id: s}"),
            "azure_sd_configs[0].tenant_id: must be set",
        ),
        (
            sd("http", "{url: 'ftp://x'}"),
            "url: \"ftp://x\": the scheme must be http or https",
        ),
        (
            sd("eureka", "{server: 'x'}"),
            "server: \"x\" is not a URL with a scheme and a host",
        ),
        (
            sd("scaleway", "{role: instance, project_id: p, access_key: a}"),
            "one of secret_key, secret_key_file must be set",
        ),
        (
            sd("ec2", "{filters: [{name: a, values: []}]}"),
            "filters[0].values: cannot be empty",
        ),
    ] {
        let error = refused(&text);
        assert!(
            error.contains(words),
            "{text}\n  gave: {error}\n  want: {words}"
        );
    }
    // In-cluster discovery with the defaults that Prometheus writes out itself.
    assert!(
        check(&sd(
            "kubernetes",
            "{role: endpoints, follow_redirects: true, namespaces: {own_namespace: true}}"
        ))
        .is_ok()
    );
}

#[test]
fn merge_keys_are_applied_before_the_check() {
    let text = "scrape_configs:\n- &base\n  job_name: a\n  scrape_interval: 30s\n- <<: *base\n  job_name: b\n";
    assert!(check(text).is_ok(), "{:?}", check(text));
    let bad = "scrape_configs:\n- &base\n  job_name: a\n  scrape_intervall: 30s\n- <<: *base\n  job_name: b\n";
    assert!(refused(bad).contains("scrape_configs[0].scrape_intervall"));
}

#[test]
fn rule_files_are_matched_as_prometheus_globs_them_from_the_config_folder() {
    let dir = "/etc/prometheus/config";
    for (pattern, name, matched) in [
        ("*.rules.yml", "alerts.rules.yml", true),
        ("alerts.yml", "alerts.yml", true),
        ("./alerts.yml", "alerts.yml", true),
        ("/etc/prometheus/config/*.yml", "alerts.yml", true),
        ("/etc/prometheus/rules/*.yml", "alerts.yml", false),
        ("rules/*.yml", "alerts.yml", false),
        ("alert?.y[a-m]l", "alerts.yml", true),
        ("[^a]*.yml", "alerts.yml", false),
        ("*.yaml", "alerts.yml", false),
    ] {
        assert_eq!(loads(pattern, dir, name), matched, "{pattern} {name}");
    }
}

#[test]
fn rule_files_are_checked_down_to_each_promql_expression() {
    let good = "groups:\n- name: a\n  interval: 1m\n  rules:\n  - alert: Up\n    expr: up{job=~\"a|b\"} == 0\n    for: 5m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.job }} is down'}\n  - record: job:up:sum\n    expr: sum by (job) (up)\n";
    assert_eq!(check_rules(good, Names::Utf8), Ok(()));
    assert_eq!(check_rules("", Names::Utf8), Ok(()));
    let rule = |body: &str| format!("groups:\n- name: a\n  rules:\n  - {body}\n");
    for (text, words) in [
        (
            rule("{alert: A, expr: 'sum(up'}"),
            "groups[0].rules[0].expr: is not a PromQL expression",
        ),
        (
            rule("{alert: A, expr: 'rate(up[5x])'}"),
            "is not a PromQL expression",
        ),
        (rule("{alert: A}"), "groups[0].rules[0].expr: must be set"),
        (
            rule("{alert: A, record: b, expr: up}"),
            "only one of record and alert may be set",
        ),
        (rule("{expr: up}"), "one of record or alert must be set"),
        (rule("{record: 'a{b=\"c\"}', expr: up}"), "has braces"),
        (
            rule("{record: a, expr: up, for: 5m}"),
            "rules[0].for: is not allowed in a recording rule",
        ),
        (
            rule("{record: a, expr: up, annotations: {a: b}}"),
            "annotations: are not allowed in a recording rule",
        ),
        (
            rule("{alert: A, expr: up, for: 5x}"),
            "rules[0].for: \"5x\" is not a duration",
        ),
        (
            rule("{alert: A, expr: up, labels: {__name__: x}}"),
            "labels.__name__: \"__name__\" is not a valid label name",
        ),
        (
            rule("{alert: A, expr: up, annotation: {a: b}}"),
            "rules[0].annotation: is not a key of a rule file",
        ),
        (
            "groups:\n- name: a\n- name: a\n".to_string(),
            "groups[1].name: \"a\" is the name of an earlier group",
        ),
        (
            "groups:\n- rules: []\n".to_string(),
            "groups[0].name: must be set",
        ),
        (
            "group: []\n".to_string(),
            "group: is not a key of a rule file",
        ),
    ] {
        let error = check_rules(&text, Names::Utf8)
            .expect_err(&text)
            .to_string();
        assert!(
            error.contains(words),
            "{text}\n  gave: {error}\n  want: {words}"
        );
    }
    let legacy = rule("{alert: A, expr: up, annotations: {ins-tance: x}}");
    assert!(check_rules(&legacy, Names::Utf8).is_ok());
    assert!(
        check_rules(&legacy, Names::Legacy)
            .unwrap_err()
            .to_string()
            .contains("is not a valid annotation name")
    );
}
