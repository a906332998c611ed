//! End-to-end tests of semantic interoperability with the real binary, curl and
//! the CLI: Thing Descriptions and Thing Models fetched over HTTP validate against
//! the W3C schemas; every SDF vector imports through `steward model import-sdf`;
//! NGSI-LD queries (ETSI GS CIM 009) over readings ingested over HTTP return
//! Smart Data Models entities that validate against their schemas; hostile SDF
//! files and mapping declarations get clear errors and store nothing.

mod common;

use common::semantic::{add_model, get, ingest, vectors};
use common::*;
use serde_json::{Value, json};

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn fails(o: &std::process::Output) -> String {
    assert!(
        !o.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn model_names(gw: &Gateway) -> Vec<String> {
    let v: Value = serde_json::from_str(&ok(&gw.cli(&["model", "list"]))).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn thing_description_and_thing_model_over_http() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let thing = json!({
        "title": "Air quality sensor",
        "properties": {"pm2_5": {"unit": "ug/m3", "minimum": 0, "title": "PM2.5"}},
        "actions": {"reboot": {"description": "restart"}, "calibrate": {"input": {"type": "number"}}}
    });
    ok(&add_model(&gw, "aq", &["--thing", &thing.to_string()]));
    let d = gw.add_device("aq-1", "aq");
    let token = gw.token(&d.id);
    ingest(&gw, &d.id, &token, "application/senml+json", br#"[{"bn":"","n":"pm2_5","u":"ug/m3","v":7.5},{"n":"temperature","u":"Cel","v":11.5},{"n":"door","vb":true}]"#);

    let wot = ::semantic::WotValidator::new().unwrap();
    let r = get(&gw, &format!("/api/v1/devices/{}/td", d.id), true, &[]);
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/td+json"));
    let td = r.json();
    wot.check_td(&td, "TD from the API").unwrap();
    assert_eq!(td["title"], "aq-1");
    // The model's declared property, the readings the device sent (with units), the actions.
    assert_eq!(td["properties"]["pm2_5"]["unit"], "ug/m3");
    assert_eq!(td["properties"]["temperature"]["unit"], "Cel");
    assert_eq!(td["properties"]["door"]["type"], "boolean");
    assert!(
        td["actions"]["reboot"]["forms"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with("/commands/reboot")
    );
    // Forms point at the real endpoints: the MQTT broker's address, and HTTP forms that work.
    // The device's uplink: an action only its own credentials invoke, in the
    // formats its model (SenML) decodes.
    let uplink = td["actions"]["telemetry"]["forms"].as_array().unwrap();
    assert!(
        uplink.iter().all(|f| f["op"] == "invokeaction"),
        "{uplink:#?}"
    );
    let mqtt: Vec<_> = uplink
        .iter()
        .filter(|f| f.get("mqv:topic").is_some())
        .collect();
    assert_eq!(mqtt.len(), 2, "{uplink:#?}");
    assert_eq!(mqtt[0]["href"], format!("mqtts://{}", gw.mqtts));
    assert_eq!(
        mqtt[0]["mqv:topic"],
        format!("steward/v1/devices/{}/telemetry", d.id)
    );
    assert_eq!(mqtt[0]["contentType"], "application/senml+json");
    assert_eq!(
        mqtt[1]["mqv:topic"],
        format!("steward/v1/devices/{}/telemetry/cbor", d.id)
    );
    assert_eq!(mqtt[1]["contentType"], "application/senml+cbor");
    assert_eq!(td["base"], format!("http://{}/", gw.http));
    let href = td["properties"]["temperature"]["forms"][0]["href"]
        .as_str()
        .unwrap();
    let read = get(&gw, &format!("/{href}"), true, &[]);
    assert_eq!(read.code, 200, "{}", read.body);
    assert_eq!(read.json()[0]["v"], 11.5);
    // The TD links its Thing Model, which validates too.
    let tm_href = td["links"][0]["href"].as_str().unwrap();
    let tm_path = tm_href
        .strip_prefix(&format!("http://{}", gw.http))
        .unwrap();
    let r = get(&gw, tm_path, true, &[]);
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/tm+json"));
    let tm = r.json();
    wot.check_tm(&tm, "TM from the API").unwrap();
    assert_eq!(tm["properties"]["pm2_5"]["minimum"], 0.0);
    assert!(tm["actions"]["calibrate"].is_object());
    // A command named in the TD is really relayed (202 from the MQTT relay).
    let (code, body) = gw.curl(
        "POST",
        &format!("/api/v1/devices/{}/commands/reboot", d.id),
        &[
            "-H",
            &format!("Authorization: Bearer {}", gw.admin),
            "--data",
            "now",
        ],
    );
    assert_eq!(code, 202, "{body}");

    assert_eq!(
        get(&gw, &format!("/api/v1/devices/{}/td", d.id), false, &[]).code,
        401
    );
    assert_eq!(get(&gw, "/api/v1/devices/nope/td", true, &[]).code, 404);
    assert_eq!(get(&gw, "/api/v1/models/nope/tm", true, &[]).code, 404);
    // The new endpoints are in the OpenAPI document.
    let api = get(&gw, "/api/v1/openapi.json", false, &[]).json();
    for p in [
        "/api/v1/devices/{id}/td",
        "/api/v1/models/{name}/tm",
        "/api/v1/models/{name}/ngsi",
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/{id}",
    ] {
        assert!(
            api["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
}

#[test]
fn every_sdf_vector_imports_through_the_cli() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let mut files: Vec<_> = std::fs::read_dir(vectors().join("sdf"))
        .expect("../shared/vectors/sdf")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".sdf.json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 32);
    let wot = ::semantic::WotValidator::new().unwrap();
    for f in &files {
        let out = gw.cli(&["model", "import-sdf", f.to_str().unwrap()]);
        let model: Value = serde_json::from_str(&ok(&out)).unwrap();
        let name = model["name"].as_str().unwrap();
        let r = get(&gw, &format!("/api/v1/models/{name}/tm"), true, &[]);
        assert_eq!(r.code, 200, "{}: {}", f.display(), r.body);
        let tm = r.json();
        wot.check_tm(&tm, name).unwrap();
        // sdfProperty → property with unit and type, as in the file.
        let doc: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        if let Some(objects) = doc["sdfObject"].as_object() {
            for (prop, p) in objects
                .values()
                .flat_map(|o| o["sdfProperty"].as_object().into_iter().flatten())
            {
                let got = &tm["properties"][prop];
                assert!(got.is_object(), "{}: {prop} missing", f.display());
                if let Some(u) = p.get("unit") {
                    assert_eq!(&got["unit"], u, "{}: {prop}", f.display());
                }
                if let Some(t) = p.get("type") {
                    assert_eq!(&got["type"], t, "{}: {prop}", f.display());
                }
            }
        }
    }
    assert!(model_names(&gw).len() >= 32);
    // The same file twice: the name is taken, nothing changes.
    let again = fails(&gw.cli(&["model", "import-sdf", files[0].to_str().unwrap()]));
    assert!(again.contains("exists already"), "{again}");
    // A device of an imported model gets a TD with the model's properties.
    let d = gw.add_device("hum-1", "humidity");
    let td = get(&gw, &format!("/api/v1/devices/{}/td", d.id), true, &[]).json();
    wot.check_td(&td, "humidity TD").unwrap();
    assert_eq!(td["properties"]["humidity"]["type"], "integer");
    assert_eq!(td["properties"]["humidity"]["maximum"], 100.0);
}

#[test]
fn hostile_sdf_files_and_mappings_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let before = model_names(&gw);
    let write = |name: &str, body: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let big = write("big.sdf.json", &vec![b' '; 2 * 1024 * 1024]);
    let mut deep = "[".repeat(50_000);
    deep.push_str(&"]".repeat(50_000));
    let cases: Vec<(String, &str)> = vec![
        (big, "limit"),
        (write("bad.sdf.json", b"{\"sdfObject\": {"), "not JSON"),
        (write("deep.sdf.json", deep.as_bytes()), "not JSON"),
        (write("odd.sdf.json", json!({"sdfObject": {"lamp": {"sdfProperty": {"on off": {"type": "boolean"}}}}}).to_string().as_bytes()), "on off"),
        (write("noname.sdf.json", json!({"sdfObject": {"%%%": {"sdfProperty": {"p": {"type": "number"}}}}}).to_string().as_bytes()), "--name"),
        (write("schema.sdf.json", json!({"sdfObject": {"o": {"sdfProperty": {"p": {"type": "colour"}}}}}).to_string().as_bytes()), "SDF validation schema"),
        (write("loop.sdf.json", json!({"sdfData": {"a": {"sdfRef": "#/sdfData/a"}}, "sdfObject": {"o": {"sdfProperty": {"p": {"sdfRef": "#/sdfData/a"}}}}}).to_string().as_bytes()), "deeper than"),
    ];
    for (file, needle) in &cases {
        let err = fails(&gw.cli(&["model", "import-sdf", file]));
        assert!(
            err.contains(needle),
            "{file}: expected {needle:?} in: {err}"
        );
        assert!(err.len() < 4000, "{file}: the error is bounded");
    }
    assert!(
        fails(&gw.cli(&["model", "import-sdf", "/nonexistent.sdf.json"]))
            .contains("/nonexistent.sdf.json")
    );
    let long = format!("{}x", "m".repeat(64));
    let err = fails(
        &gw.cli(&[
            "model",
            "import-sdf",
            &vectors()
                .join("sdf/sdfobject-humidity.sdf.json")
                .to_string_lossy(),
            "--name",
            &long,
        ]),
    );
    assert!(err.contains("model"), "{err}");
    // Mappings: refused at `model add` (the model is not created) and over the API.
    for (mapping, needle) in [
        (
            json!({"type": "Spaceship", "attributes": [{"reading": "a", "attribute": "b"}]}),
            "Spaceship",
        ),
        (
            json!({"type": "AirQualityObserved", "attributes": [{"reading": "a", "attribute": "type"}]}),
            "reserved",
        ),
        (
            json!({"type": "AirQualityObserved", "attributes": [{"reading": "a", "attribute": "coLevel", "values": {"1": 5}}]}),
            "coLevel",
        ),
        (
            json!({"type": "ParkingSpot", "attributes": [{"reading": "p", "attribute": "status", "values": {"1": "occupied"}}]}),
            "refParkingSite",
        ),
        (
            json!({"type": "AirQualityObserved", "attributes": [{"reading": "a", "attribute": "pm25", "evil": true}]}),
            "evil",
        ),
    ] {
        let err = fails(&add_model(
            &gw,
            "hostile",
            &["--ngsi", &mapping.to_string()],
        ));
        assert!(err.contains(needle), "{mapping}: {err}");
    }
    let err = fails(&add_model(
        &gw,
        "hostile",
        &["--thing", r#"{"properties": {"a b": {}}}"#],
    ));
    assert!(err.contains("a b"), "{err}");
    assert_eq!(model_names(&gw), before, "nothing was stored");
    ok(&add_model(&gw, "fine", &[]));
    let auth = format!("Authorization: Bearer {}", gw.admin);
    for body in [
        r#"{"type": "AirQualityObserved", "attributes": []}"#,
        "not json",
        r#"{"type":"AirQualityObserved","attributes":[{"reading":"x","attribute":"@id"}]}"#,
    ] {
        let (code, reply) = gw.curl(
            "PUT",
            "/api/v1/models/fine/ngsi",
            &["-H", &auth, "--data", body],
        );
        assert_eq!(code, 400, "{body}: {reply}");
        assert!(reply.contains("NGSI-LD mapping"), "{reply}");
    }
    let sem = get(&gw, "/api/v1/models/fine/semantics", true, &[]).json();
    assert_eq!(sem, json!({"thing": null, "ngsi": null}));
    assert_eq!(model_names(&gw).len(), before.len() + 1);
}

/// A gateway with one device of each exported type, fed over HTTP with device
/// tokens in four payload formats.
fn city(gw: &Gateway) -> Vec<(String, &'static str)> {
    let aq = json!({"type": "AirQualityObserved", "attributes": [
        {"reading": "pm2_5", "attribute": "pm25"}, {"reading": "no2", "attribute": "no2"},
        {"reading": "humidity", "attribute": "relativeHumidity", "scale": 0.01}]});
    ok(&add_model(gw, "aq", &["--ngsi", &aq.to_string()]));
    let noise = json!({"type": "NoiseLevelObserved", "attributes": [{"reading": "laeq", "attribute": "LAeq"}, {"reading": "lamax", "attribute": "LAmax"}]});
    ok(&add_model(gw, "noise", &["--ngsi", &noise.to_string()]));
    let parking = json!({"type": "ParkingSpot",
        "attributes": [{"reading": "presence_1", "attribute": "status", "values": {"1": "occupied", "0": "free"}}],
        "static": {"category": ["onStreet"], "refParkingSite": "urn:ngsi-ld:ParkingSite:test"}});
    ok(&add_model(
        gw,
        "parking",
        &["--decoder", "cayenne-lpp", "--ngsi", &parking.to_string()],
    ));
    let decoder = json!({"kind": "json-map", "readings": [
        {"name": "on", "pointer": "/on", "type": "bool"}, {"name": "dim", "pointer": "/dim", "unit": "%"},
        {"name": "lat", "pointer": "/lat", "unit": "lat"}, {"name": "lon", "pointer": "/lon", "unit": "lon"}]});
    let light = json!({"type": "Streetlight", "attributes": [
        {"reading": "on", "attribute": "powerState", "values": {"true": "on", "false": "off"}},
        {"reading": "dim", "attribute": "illuminanceLevel", "scale": 0.01}], "static": {"status": "ok"}});
    ok(&add_model(
        gw,
        "light",
        &[
            "--decoder",
            &decoder.to_string(),
            "--ngsi",
            &light.to_string(),
        ],
    ));

    let mut out = Vec::new();
    let aq1 = gw.add_device("aq-1", "aq");
    ingest(gw, &aq1.id, &gw.token(&aq1.id), "application/senml+json", br#"[{"n":"pm2_5","u":"ug/m3","v":12.5},{"n":"no2","u":"ppb","v":21},{"n":"humidity","u":"%RH","v":64},{"n":"lat","u":"lat","v":52.37},{"n":"lon","u":"lon","v":4.89}]"#);
    out.push((aq1.id, "AirQualityObserved"));
    let n1 = gw.add_device("noise-1", "noise");
    ingest(gw, &n1.id, &gw.token(&n1.id), "application/senml+json", br#"[{"bt":1764900000,"n":"laeq","u":"dB","v":61.2},{"n":"lamax","u":"dB","v":80.5,"t":30},{"n":"lat","u":"lat","v":52.38},{"n":"lon","u":"lon","v":4.9}]"#);
    out.push((n1.id, "NoiseLevelObserved"));
    let p1 = gw.add_device("spot-1", "parking");
    // Cayenne LPP: presence 1 on channel 1; GPS on channel 1 (52.3702, 4.8952, 0 m).
    let mut lpp = vec![0x01, 0x66, 0x01, 0x01, 0x88];
    for v in [523702i32, 48952, 0] {
        lpp.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    ingest(
        gw,
        &p1.id,
        &gw.token(&p1.id),
        "application/octet-stream",
        &lpp,
    );
    out.push((p1.id, "ParkingSpot"));
    let l1 = gw.add_device("lamp-1", "light");
    ingest(
        gw,
        &l1.id,
        &gw.token(&l1.id),
        "application/json",
        br#"{"on": true, "dim": 40, "lat": 52.36, "lon": 4.88}"#,
    );
    out.push((l1.id, "Streetlight"));
    out
}

#[test]
fn ngsi_ld_entities_from_ingested_readings() {
    require("curl");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), None);
    let devices = city(&gw);
    let exporter = ::semantic::Exporter::new().unwrap();
    // A device whose model maps readings but that never sent a position.
    let nopos = gw.add_device("aq-2", "aq");
    ingest(
        &gw,
        &nopos.id,
        &gw.token(&nopos.id),
        "application/senml+json",
        br#"[{"n":"pm2_5","u":"ug/m3","v":3}]"#,
    );

    for (id, t) in &devices {
        // keyValues: the Smart Data Models form, validated against the type's schema.
        let r = get(
            &gw,
            &format!("/ngsi-ld/v1/entities?type={t}&options=keyValues"),
            true,
            &[],
        );
        assert_eq!(r.code, 200, "{}", r.body);
        let list = r.json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{t}: {list}");
        let e = &list[0];
        assert_eq!(e["id"], format!("urn:ngsi-ld:{t}:{id}"));
        assert_eq!(e["type"], *t);
        let problems = exporter.problems(t, e);
        assert!(problems.is_empty(), "{t}: {problems:?}\n{e:#}");
        // application/json: no @context in the body, the context in a Link header.
        assert_eq!(r.header("content-type"), Some("application/json"));
        let link = r.header("link").unwrap_or_default();
        assert!(
            link.contains(r#"rel="http://www.w3.org/ns/json-ld#context""#)
                && link.contains("smart-data-models"),
            "{link}"
        );
        assert!(e.get("@context").is_none());
        // Retrieve by id, normalized: Property / GeoProperty / Relationship.
        let r = get(
            &gw,
            &format!("/ngsi-ld/v1/entities/urn:ngsi-ld:{t}:{id}"),
            true,
            &[],
        );
        assert_eq!(r.code, 200, "{}", r.body);
        let n = r.json();
        assert_eq!(n["location"]["type"], "GeoProperty");
        assert_eq!(n["refDevice"]["type"], "Relationship");
    }
    let aq = get(
        &gw,
        "/ngsi-ld/v1/entities?type=AirQualityObserved",
        true,
        &[],
    )
    .json();
    let aq = &aq[0];
    assert_eq!(aq["pm25"]["type"], "Property");
    assert_eq!(aq["pm25"]["value"], 12.5);
    assert_eq!(aq["pm25"]["unitCode"], "GQ");
    assert_eq!(aq["no2"]["unitCode"], "61");
    assert!(aq["pm25"]["observedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(aq["relativeHumidity"]["value"], 0.64);
    assert_eq!(aq["location"]["value"]["coordinates"], json!([4.89, 52.37]));
    let spot = get(
        &gw,
        "/ngsi-ld/v1/entities?type=ParkingSpot&options=keyValues",
        true,
        &[],
    )
    .json();
    assert_eq!(spot[0]["status"], "occupied");
    assert_eq!(spot[0]["location"]["coordinates"], json!([4.8952, 52.3702]));
    let noise = get(
        &gw,
        "/ngsi-ld/v1/entities?type=NoiseLevelObserved&options=keyValues",
        true,
        &[],
    )
    .json();
    assert_eq!(noise[0]["dateObservedFrom"], "2025-12-05T02:00:00.000Z");
    assert_eq!(noise[0]["dateObservedTo"], "2025-12-05T02:00:30.000Z");

    // application/ld+json: the @context in each entity, no Link header.
    let r = get(
        &gw,
        "/ngsi-ld/v1/entities?type=Streetlight,ParkingSpot",
        true,
        &["-H", "Accept: application/ld+json"],
    );
    assert_eq!(r.code, 200);
    assert_eq!(r.header("content-type"), Some("application/ld+json"));
    assert!(r.header("link").is_none());
    let both = r.json();
    assert_eq!(both.as_array().unwrap().len(), 2);
    for e in both.as_array().unwrap() {
        let ctx = e["@context"].as_array().unwrap();
        assert_eq!(ctx.last().unwrap(), ::semantic::ngsi::CORE_CONTEXT);
    }
    let r = get(
        &gw,
        "/ngsi-ld/v1/entities?type=Streetlight",
        true,
        &["-H", "Accept: text/html"],
    );
    assert_eq!(r.code, 406, "{}", r.body);

    // Filters: unknown type → empty array; attrs projection; id list; count.
    let r = get(
        &gw,
        "/ngsi-ld/v1/entities?type=WaterQualityObserved",
        true,
        &[],
    );
    assert_eq!((r.code, r.json()), (200, json!([])));
    let r = get(
        &gw,
        "/ngsi-ld/v1/entities?type=AirQualityObserved&attrs=pm25&options=keyValues",
        true,
        &[],
    );
    let keys: Vec<String> = r.json()[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "pm25", "type"]);
    let (aq_id, _) = &devices[0];
    let r = get(
        &gw,
        &format!(
            "/ngsi-ld/v1/entities?id=urn:ngsi-ld:AirQualityObserved:{aq_id}&count=true&limit=1"
        ),
        true,
        &[],
    );
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.header("ngsild-results-count"), Some("1"));
    let all = get(
        &gw,
        "/ngsi-ld/v1/entities?type=AirQualityObserved,NoiseLevelObserved,ParkingSpot,Streetlight&count=true&limit=2&offset=1",
        true,
        &[],
    );
    assert_eq!(
        all.header("ngsild-results-count"),
        Some("4"),
        "the device without a position is not an entity"
    );
    assert_eq!(all.json().as_array().unwrap().len(), 2);

    // Errors: NGSI-LD ProblemDetails.
    let problem = |path: &str, code: u16, kind: &str, needle: &str| {
        let r = get(&gw, path, true, &[]);
        assert_eq!(r.code, code, "{path}: {}", r.body);
        let p = r.json();
        assert_eq!(
            p["type"],
            format!("https://uri.etsi.org/ngsi-ld/errors/{kind}"),
            "{path}: {p}"
        );
        assert!(
            p["detail"].as_str().unwrap().contains(needle),
            "{path}: {p}"
        );
        assert!(p["title"].is_string());
    };
    problem(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:00000000-0000-0000-0000-000000000000",
        404,
        "ResourceNotFound",
        "no entity",
    );
    problem(
        &format!(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:{}",
            nopos.id
        ),
        404,
        "ResourceNotFound",
        "position",
    );
    problem(
        &format!("/ngsi-ld/v1/entities/urn:ngsi-ld:ParkingSpot:{aq_id}"),
        404,
        "ResourceNotFound",
        "no entity",
    );
    problem(
        "/ngsi-ld/v1/entities/not-a-uri",
        400,
        "BadRequestData",
        "not a URI",
    );
    problem(
        "/ngsi-ld/v1/entities?type=AirQualityObserved&colour=red",
        400,
        "BadRequestData",
        "colour",
    );
    problem(
        "/ngsi-ld/v1/entities?type=AirQualityObserved&limit=lots",
        400,
        "BadRequestData",
        "limit",
    );
    problem(
        "/ngsi-ld/v1/entities?type=AirQualityObserved&options=fancy",
        400,
        "BadRequestData",
        "fancy",
    );
    problem(
        "/ngsi-ld/v1/entities?limit=5",
        400,
        "BadRequestData",
        "type",
    );
    problem(
        "/ngsi-ld/v1/entities?type=A%20B",
        400,
        "BadRequestData",
        "type",
    );
    problem(
        "/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm25%3E3",
        501,
        "OperationNotSupported",
        "q",
    );
    let r = get(
        &gw,
        "/ngsi-ld/v1/entities?type=AirQualityObserved",
        false,
        &[],
    );
    assert_eq!(r.code, 401);
    assert_eq!(r.json()["status"], 401);
}

#[test]
fn demo_fleet_exports_city_entities() {
    require("curl");
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--devices",
            "6",
            "--seconds",
            "60",
            "--http",
            "127.0.0.1:0",
            "--mqtts",
            "127.0.0.1:0",
            "--coaps",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut admin) = (None, None);
    while http.is_none() || admin.is_none() {
        let line = lines.next().expect("demo ended early").unwrap();
        if let Some(rest) = line.trim().strip_prefix("HTTP API:") {
            http = rest
                .trim()
                .strip_prefix("http://")
                .and_then(|r| r.split('/').next())
                .map(String::from);
        }
        if let Some(rest) = line.trim().strip_prefix("admin token:") {
            admin = Some(rest.trim().to_string());
        }
    }
    let (http, admin) = (http.unwrap(), admin.unwrap());
    let exporter = ::semantic::Exporter::new().unwrap();
    let mut found = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    while found.len() < 4 && std::time::Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-H", &format!("Authorization: Bearer {admin}")])
            .arg(format!("http://{http}/ngsi-ld/v1/entities?type=AirQualityObserved,NoiseLevelObserved,ParkingSpot,Streetlight&options=keyValues&limit=100"))
            .output()
            .unwrap();
        let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        for e in list.as_array().into_iter().flatten() {
            let t = e["type"].as_str().unwrap_or_default().to_string();
            let problems = exporter.problems(&t, e);
            assert!(problems.is_empty(), "{t}: {problems:?}\n{e:#}");
            found.insert(t);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        [
            "AirQualityObserved",
            "NoiseLevelObserved",
            "ParkingSpot",
            "Streetlight"
        ]
    );
}
