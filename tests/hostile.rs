//! Hostile and malformed requests against the real binary over real TLS.
//!
//! Each one gets a 4xx with a short `{"error": "..."}` naming the problem: never a 200 (Metacontroller would
//! apply it and delete every child it leaves out) and never a 5xx (a bug). After them the server still answers a
//! valid sync, and its memory stays bounded.

mod server_support;

use hyper::http::StatusCode;
use serde_json::{Value, json};
use server_support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest error body: it ends up in an Event on the parent.
const SHORT: usize = 1024;

/// Generous bound on the server's resident memory, peak included, whatever it was sent.
const MEMORY_BOUND_KIB: u64 = 256 * 1024;

fn anything(alpn: &[&str]) -> std::sync::Arc<rustls::ClientConfig> {
    client(Trust::Anything, alpn, None)
}

/// A request that must be refused: its body, the status expected, and a word the message must contain.
struct Case {
    name: String,
    body: Vec<u8>,
    status: u16,
    word: String,
}

fn case(name: impl Into<String>, body: impl Into<Vec<u8>>, status: u16, word: &str) -> Case {
    Case {
        name: name.into(),
        body: body.into(),
        status,
        word: word.to_owned(),
    }
}

/// The example with one field of its parent set (objects made on the way) or, given `None`, removed. The
/// field is a path of keys from the parent, e.g. `/spec/metrics/retention`.
fn parent_with(pointer: &str, value: Option<Value>) -> Vec<u8> {
    example_with(|request| {
        let (path, key) = pointer.rsplit_once('/').expect("a pointer");
        let mut target = &mut request["parent"];
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !target.is_object() {
                *target = json!({});
            }
            target = &mut target[part];
        }
        if !target.is_object() {
            *target = json!({});
        }
        let object = target.as_object_mut().expect("made an object above");
        match value {
            Some(value) => object.insert(key.to_owned(), value),
            None => object.remove(key),
        };
    })
    .into_bytes()
}

/// Send every case; report each as a line, and fail listing every case that did not get its answer.
async fn refuse_all(server: &Server, cases: &[Case]) {
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        // Both protocols, alternately.
        let alpn = if i % 2 == 0 { "h2" } else { "http/1.1" };
        let answer = match send(
            server.hook,
            anything(&[alpn]),
            post("/sync", case.body.clone()),
        )
        .await
        {
            Ok(answer) => answer,
            Err(e) => {
                failures.push(format!("{}: no answer: {e}", case.name));
                continue;
            }
        };
        let text = answer.text();
        eprintln!("{} -> {} {}", case.name, answer.status.as_u16(), text);
        let message = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|json| json["error"].as_str().map(str::to_owned));
        let problem = if answer.status.as_u16() != case.status {
            Some(format!(
                "status {}, expected {}",
                answer.status, case.status
            ))
        } else if answer.body.len() >= SHORT {
            Some(format!("a body of {} bytes", answer.body.len()))
        } else if !message.is_some_and(|m| m.contains(&case.word)) {
            Some(format!("the error does not name {:?}", case.word))
        } else {
            None
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}: {text}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_serves(server).await;
}

/// The server answers a valid sync with the whole desired state.
async fn assert_serves(server: &Server) {
    let answer = send(server.hook, anything(&["h2"]), post("/sync", EXAMPLE))
        .await
        .expect("a valid sync is answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let children = answer.json()["children"].as_array().map(Vec::len);
    assert!(children.is_some_and(|n| n > 0), "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_400_naming_the_problem() {
    let server = Server::start(&[]);
    let nested = |depth: usize| {
        let mut body = "[".repeat(depth).into_bytes();
        body.extend(std::iter::repeat_n(b']', depth));
        body
    };
    let truncated = &EXAMPLE.as_bytes()[..EXAMPLE.len() / 2];
    let children = |value: Value| example_with(|r| r["children"] = value.clone()).into_bytes();
    let cases = vec![
        case("empty body", "", 400, "malformed request"),
        case(
            "not JSON",
            "apiVersion: v1\nkind: Pod\n",
            400,
            "malformed request",
        ),
        case(
            "binary",
            vec![0xff, 0xfe, 0x00, 0x01],
            400,
            "malformed request",
        ),
        case("truncated JSON", truncated, 400, "malformed request"),
        case("trailing data", format!("{EXAMPLE} {{}}"), 400, "trailing"),
        case("{}", "{}", 400, "parent"),
        case("a JSON array", "[]", 400, "malformed request"),
        case("a JSON string", "\"sync\"", 400, "malformed request"),
        case("null", "null", 400, "malformed request"),
        case(
            "nesting 100,000 deep",
            nested(100_000),
            400,
            "recursion limit",
        ),
        case(
            "a parent nested 100,000 deep",
            format!(
                "{{\"parent\":{}0{}}}",
                "{\"a\":".repeat(100_000),
                "}".repeat(100_000)
            ),
            400,
            "recursion limit",
        ),
        // An unknown field is skipped without recursion: only the missing parent is reported.
        case(
            "an unknown field nested 100,000 deep",
            format!("{{\"x\":{}0{}}}", "[".repeat(100_000), "]".repeat(100_000)),
            400,
            "parent",
        ),
        case(
            "parent: null",
            example_with(|r| r["parent"] = Value::Null),
            400,
            "parent",
        ),
        case(
            "parent is a string",
            example_with(|r| r["parent"] = json!("example")),
            400,
            "parent",
        ),
        case(
            "parent of another kind",
            parent_with("/kind", Some(json!("Deployment"))),
            400,
            "PrometheusReplica",
        ),
        case(
            "parent of another group",
            parent_with("/apiVersion", Some(json!("monitoring.coreos.com/v1alpha1"))),
            400,
            "PrometheusReplica",
        ),
        case(
            "parent of another version",
            parent_with("/apiVersion", Some(json!("prometheus.robszumski.com/v2"))),
            400,
            "PrometheusReplica",
        ),
        case(
            "parent without a namespace",
            parent_with("/metadata/namespace", None),
            400,
            "namespace",
        ),
        // The parent is one, but without its spec: the spec is what is invalid.
        case(
            "parent without a spec",
            parent_with("/spec", None),
            422,
            "spec",
        ),
        case(
            "spec: null",
            parent_with("/spec", Some(Value::Null)),
            422,
            "spec",
        ),
        case(
            "spec: an array",
            parent_with("/spec", Some(json!([]))),
            422,
            "spec",
        ),
        case("children: an array", children(json!([])), 400, "children"),
        case(
            "children: a string",
            children(json!("all")),
            400,
            "children",
        ),
        case(
            "children: a kind holding an array",
            children(json!({"StatefulSet.apps/v1": []})),
            400,
            "children",
        ),
        case(
            "children: an object that is not an object",
            children(json!({"StatefulSet.apps/v1": {"example-prometheus": 5}})),
            400,
            "children",
        ),
        case(
            "children: an object without metadata.name",
            children(
                json!({"StatefulSet.apps/v1": {"example-prometheus": {"kind": "StatefulSet"}}}),
            ),
            400,
            "metadata.name",
        ),
        case(
            "children: an outer key without a version",
            children(json!({"StatefulSet": {}})),
            400,
            "Kind.group/version",
        ),
        case(
            "children: an outer key that is a resource",
            children(json!({"statefulsets": {}})),
            400,
            "Kind.group/version",
        ),
        case(
            "children: an outer key with an empty kind",
            children(json!({".apps/v1": {}})),
            400,
            "Kind.group/version",
        ),
        case(
            "related: an outer key without a version",
            example_with(|r| r["related"] = json!({"ConfigMap": {}})),
            400,
            "Kind.group/version",
        ),
    ];
    refuse_all(&server, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_specs_are_422_naming_the_field() {
    let server = Server::start(&[]);
    let spec = |field: &str, value: Option<Value>| parent_with(&format!("/spec/{field}"), value);
    let mut cases = vec![
        case(
            "no configMap",
            spec("configMap", None),
            422,
            "spec.configMap",
        ),
        case(
            "no bucketSecret",
            spec("bucketSecret", None),
            422,
            "bucketSecret",
        ),
        case(
            "metadata.name of 38 characters",
            parent_with("/metadata/name", Some(json!("a".repeat(38)))),
            422,
            "metadata.name",
        ),
        case(
            "metadata.name with a slash",
            parent_with("/metadata/name", Some(json!("a/b"))),
            422,
            "metadata.name",
        ),
        case(
            "metadata.name ..",
            parent_with("/metadata/name", Some(json!(".."))),
            422,
            "metadata.name",
        ),
        case(
            "metadata.name empty",
            parent_with("/metadata/name", Some(json!(""))),
            422,
            "metadata.name",
        ),
    ];
    for (field, value) in [
        ("configMap", "../kube-system/config"),
        ("configMap", "a/b"),
        ("configMap", ".."),
        ("bucketSecret", "../other"),
        ("bucketSecret", "a..b"),
        ("baseDomain", "example.com/../admin"),
        ("replicaLabel", "a/b"),
    ] {
        cases.push(case(
            format!("{field}: {value:?}"),
            spec(field, Some(json!(value))),
            422,
            &format!("spec.{field}"),
        ));
    }
    for (field, value) in [
        ("metrics/retention", "24h --web.enable-admin-api"),
        ("metrics/retention", "24x"),
        ("metrics/retention", ""),
        ("metrics/retention", "1 d"),
        ("metrics/retention", "-1h"),
        ("metrics/retention", "24h\n--web.enable-lifecycle"),
        ("metrics/blockDuration", "2h --storage.tsdb.path=/"),
        ("metrics/blockDuration", "forever"),
        ("compact/retention/raw", "30d; rm -rf /"),
    ] {
        cases.push(case(
            format!("{field}: {value:?}"),
            spec(field, Some(json!(value))),
            422,
            &format!("spec.{}", field.replace('/', ".")),
        ));
    }
    for (field, value) in [
        ("prometheus", json!(-1)),
        ("query", json!(-1)),
        ("prometheus", json!(1_000_000)),
        ("prometheus", json!(i64::MAX)),
        ("prometheus", json!(u64::MAX)),
        ("query", json!(1e300)),
        ("prometheus", json!(1.5)),
    ] {
        let status = 422;
        cases.push(case(
            format!("replicas.{field}: {value}"),
            spec("replicas", Some(json!({ field: value }))),
            status,
            &format!("spec.replicas.{field}"),
        ));
    }
    refuse_all(&server, &cases).await;
}

/// A value of another type than `schema` says, two of them for each type.
fn wrong_values(schema: &Value) -> Vec<Value> {
    if schema["x-kubernetes-int-or-string"] == true {
        return vec![json!({"size": 1}), json!([1])];
    }
    match schema["type"].as_str() {
        Some("string") => vec![json!(42), json!({"value": "x"})],
        Some("integer") => vec![json!({"n": 1}), json!("3")],
        Some("boolean") => vec![json!("yes"), json!(1)],
        Some("object") => vec![json!(7), json!("object")],
        Some("array") => vec![json!("item"), json!({"0": {}})],
        _ => Vec::new(),
    }
}

/// Every field of the spec as the CRD declares it: its path below `spec` and its schema.
fn fields(schema: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    if !path.is_empty() {
        out.push((path.clone(), schema.clone()));
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            path.push(name.clone());
            fields(property, path, out);
            path.pop();
        }
    }
    // Map values (labels, annotations, resource quantities) under a made-up key.
    if schema["additionalProperties"].is_object() {
        path.push("key".to_owned());
        fields(&schema["additionalProperties"], path, out);
        path.pop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spec_field_of_the_wrong_type_is_refused_naming_it() {
    let server = Server::start(&[]);
    let crd: Value =
        serde_yaml_ng::from_str(include_str!("../deploy/crd.yaml")).expect("the CRD is YAML");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut all = Vec::new();
    fields(spec, &mut Vec::new(), &mut all);
    assert!(all.len() > 40, "only {} fields found in the CRD", all.len());
    let mut cases = Vec::new();
    for (path, schema) in &all {
        for wrong in wrong_values(schema) {
            let body = example_with(|r| {
                let mut target = &mut r["parent"]["spec"];
                for part in path {
                    if !target.is_object() {
                        *target = json!({});
                    }
                    target = &mut target[part.as_str()];
                }
                *target = wrong.clone();
            });
            // The message names the innermost field; a map value is named by its map.
            let named = path.iter().rev().find(|p| *p != "key").expect("a field");
            cases.push(case(
                format!("spec.{} = {wrong}", path.join(".")),
                body,
                422,
                named,
            ));
        }
    }
    refuse_all(&server, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415_naming_the_expected_type() {
    let server = Server::start(&[]);
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/yaml"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = post("/sync", EXAMPLE);
        match content_type {
            Some(value) => {
                request
                    .headers_mut()
                    .insert("content-type", value.parse().expect("header"));
            }
            None => {
                request.headers_mut().remove("content-type");
            }
        }
        let answer = send(server.hook, anything(&["h2"]), request)
            .await
            .expect("answered");
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert!(answer.body.len() < SHORT);
        let error = answer.json()["error"].as_str().map(str::to_owned);
        assert!(
            error.is_some_and(|e| e.contains("application/json")),
            "{}",
            answer.text()
        );
    }
    let mut charset = post("/sync", EXAMPLE);
    charset.headers_mut().insert(
        "content-type",
        "application/json; charset=utf-8".parse().expect("header"),
    );
    let answer = send(server.hook, anything(&["http/1.1"]), charset)
        .await
        .expect("answered");
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        server
            .metric("prometheus_replica_operator_requests_total{route=\"/sync\",code=\"415\"}")
            .await,
        5.0
    );
}

/// One HTTP/1 response read off a stream: status, head and body (by its Content-Length).
async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await.expect("read a line");
        assert!(n > 0, "the connection closed in a response head: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head:?}"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.expect("read the body");
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

fn raw_request(version: &str, body: &str, extra: &str) -> String {
    format!(
        "POST /sync {version}\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_requests_are_answered() {
    let server = Server::start(&[]);
    let invalid = example_with(|r| r["parent"]["spec"]["metrics"]["retention"] = json!("24x"));
    for (body, expected) in [(EXAMPLE, 200), (invalid.as_str(), 422), ("{", 400)] {
        let mut stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
            .await
            .expect("connects");
        stream
            .write_all(raw_request("HTTP/1.0", body, "").as_bytes())
            .await
            .expect("write");
        stream.flush().await.expect("flush");
        let mut reader = BufReader::new(stream);
        let (status, head, answer) = read_response(&mut reader).await;
        assert_eq!(status, expected, "{head}{answer}");
        assert!(head.starts_with("HTTP/1."), "{head}");
        if expected == 200 {
            let json: Value = serde_json::from_str(&answer).expect("JSON");
            assert!(json["children"].as_array().is_some_and(|c| !c.is_empty()));
        } else {
            assert!(
                answer.len() < SHORT && answer.contains("\"error\""),
                "{answer}"
            );
        }
        // HTTP/1.0 without keep-alive: the server closes after answering.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut rest)).await;
        assert!(rest.is_empty(), "more after the answer: {rest:?}");
    }
    // HTTP/1.0 has no chunked bodies: without a Content-Length the body is empty.
    let mut stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
        .await
        .expect("connects");
    stream
        .write_all(
            b"POST /sync HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n\r\n",
        )
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    let (status, _, answer) = read_response(&mut BufReader::new(stream)).await;
    assert_eq!(status, 400, "{answer}");
    assert_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let invalid = example_with(|r| r["parent"]["spec"]["replicas"] = json!({"prometheus": -1}));
    let mut stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
        .await
        .expect("connects");
    // All written at once, before reading anything.
    let requests = [
        raw_request("HTTP/1.1", EXAMPLE, ""),
        raw_request("HTTP/1.1", &invalid, ""),
        raw_request("HTTP/1.1", "{}", ""),
        raw_request("HTTP/1.1", EXAMPLE, "Connection: close\r\n"),
    ]
    .concat();
    stream.write_all(requests.as_bytes()).await.expect("write");
    stream.flush().await.expect("flush");
    let mut reader = BufReader::new(stream);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _, body) = read_response(&mut reader).await;
        if status == 200 {
            let json: Value = serde_json::from_str(&body).expect("JSON");
            assert!(json["children"].as_array().is_some_and(|c| !c.is_empty()));
        } else {
            assert!(body.len() < SHORT, "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 422, 400, 200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_of_200_mib_is_413_and_memory_stays_bounded() {
    const TOTAL: usize = 200 * 1024 * 1024;
    let server = Server::start(&[]);

    // Declared: refused before a byte of the body is read.
    let mut stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
        .await
        .expect("connects");
    let head = format!(
        "POST /sync HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {TOTAL}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.flush().await.expect("flush");
    let (status, _, body) = read_response(&mut BufReader::new(stream)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request body over"), "{body}");

    // Streamed in chunks with no declared length: counted while read, refused at --max-body-bytes. The test
    // holds one chunk, never the body.
    let stream = connect(server.hook, anything(&["http/1.1"]), "localhost")
        .await
        .expect("connects");
    let (read, mut write) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        let head = "POST /sync HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1024 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(&chunk).await?;
            write.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        write.write_all(b"0\r\n\r\n").await?;
        write.flush().await?;
        Ok::<usize, std::io::Error>(sent)
    });
    let (status, _, body) = read_response(&mut BufReader::new(read)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.len() < SHORT && body.contains("request body over"),
        "{body}"
    );
    // The server stops reading: the writer fails (or, on a fast machine, finishes into closed buffers).
    let sent = writer.await.expect("the writer ends");
    eprintln!("streamed: {sent:?}");

    assert_serves(&server).await;
    let (rss, peak) = (server.memory_kib("VmRSS"), server.memory_kib("VmHWM"));
    eprintln!("server memory after the 200 MiB body: VmRSS {rss} KiB, VmHWM {peak} KiB");
    assert!(
        peak < MEMORY_BOUND_KIB,
        "the server's peak memory was {peak} KiB"
    );
}
