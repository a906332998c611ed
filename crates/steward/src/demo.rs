//! `steward demo`: a gateway and a simulated city fleet on one machine.
//!
//! Every simulated device is a real client publishing at its own pace, each kind
//! in its own format: air-quality sensors in SenML, parking-spot sensors in Cayenne
//! LPP, streetlights in a vendor JSON document — these over MQTT/TLS (rumqttc) with
//! their own certificates from the gateway's CA — noise sensors in SenML CBOR and
//! weather stations in LwM2M-style SenML JSON (names are LwM2M paths such as
//! `/3303/0/5700`) over CoAP/DTLS with a pre-shared key; their models' decoders
//! make them all SenML readings with names and units.
//! The streetlights also run the update agent (`crate::updates::agent`) on the
//! same connection, and a firmware campaign to them starts with the demo
//! (`crate::updates::demo`).
//! Each device reports its position too, and each model has an NGSI-LD mapping,
//! so `/ngsi-ld/v1/entities` shows AirQualityObserved, NoiseLevelObserved,
//! ParkingSpot and Streetlight entities.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use rumqttc::{AsyncClient, MqttOptions, QoS, TlsConfiguration, Transport};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::registry::NewDevice;
use crate::server;

pub struct DemoOptions {
    pub data: Option<PathBuf>,
    pub http: SocketAddr,
    pub mqtts: SocketAddr,
    pub coaps: SocketAddr,
    pub devices: usize,
    pub seconds: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    AirQuality,
    Parking,
    Streetlight,
    /// A constrained device: CoAP over DTLS-PSK, SenML CBOR.
    Noise,
    /// An LwM2M-style client: CoAP over DTLS-PSK, SenML JSON named by LwM2M paths
    /// (IPSO temperature, humidity, barometer; location), decoded by `lwm2m`.
    Weather,
}

impl Kind {
    fn model(self) -> &'static str {
        match self {
            Kind::AirQuality => "aq-sensor",
            Kind::Parking => "parking-sensor",
            Kind::Streetlight => "streetlight",
            Kind::Noise => "noise-sensor",
            Kind::Weather => "weather-station",
        }
    }
    /// Whether the device speaks CoAP/DTLS-PSK (else MQTT/TLS), and in which
    /// content-format.
    fn coap_content_format(self) -> Option<u16> {
        match self {
            Kind::Noise => Some(112),
            Kind::Weather => Some(110),
            Kind::AirQuality | Kind::Parking | Kind::Streetlight => None,
        }
    }
    /// How the model's payloads are decoded: the fleet speaks four formats, and
    /// the API shows one vocabulary.
    fn decoder(self) -> payload::Decoder {
        let declaration = match self {
            Kind::AirQuality | Kind::Noise => serde_json::json!({"kind": "senml"}),
            // LwM2M paths → IPSO resource names and units.
            Kind::Weather => serde_json::json!({"kind": "lwm2m"}),
            // A LoRaWAN-style node: Cayenne LPP "presence" on channel 1.
            Kind::Parking => serde_json::json!({"kind": "cayenne-lpp"}),
            // A vendor JSON document, mapped field by field.
            Kind::Streetlight => serde_json::json!({
                "kind": "json-map",
                "readings": [
                    {"name": "on", "pointer": "/state/on", "type": "bool"},
                    {"name": "dim", "pointer": "/state/dim", "unit": "%"},
                    {"name": "power", "pointer": "/state/power_w", "unit": "W"},
                    {"name": "lat", "pointer": "/pos/lat", "unit": "lat"},
                    {"name": "lon", "pointer": "/pos/lon", "unit": "lon"}
                ],
                "time": {"pointer": "/ts", "unit": "ms"}
            }),
        };
        serde_json::from_value(declaration).unwrap_or_default()
    }
    /// The model's NGSI-LD mapping: reading → FIWARE Smart Data Models attribute.
    fn ngsi(self) -> Option<semantic::Mapping> {
        let declaration = match self {
            Kind::AirQuality => serde_json::json!({
                "type": "AirQualityObserved",
                "attributes": [
                    {"reading": "urn:steward:aq:pm2_5", "attribute": "pm25"},
                    {"reading": "urn:steward:aq:pm10", "attribute": "pm10"},
                    {"reading": "urn:steward:aq:no2", "attribute": "no2"},
                    {"reading": "urn:steward:aq:temperature", "attribute": "temperature"},
                    {"reading": "urn:steward:aq:humidity", "attribute": "relativeHumidity", "scale": 0.01}
                ]
            }),
            Kind::Noise => serde_json::json!({
                "type": "NoiseLevelObserved",
                "attributes": [
                    {"reading": "urn:steward:noise:LAeq", "attribute": "LAeq"},
                    {"reading": "urn:steward:noise:LAmax", "attribute": "LAmax"}
                ]
            }),
            Kind::Parking => serde_json::json!({
                "type": "ParkingSpot",
                "attributes": [{"reading": "presence_1", "attribute": "status", "values": {"1": "occupied", "0": "free"}}],
                "static": {"category": ["onStreet"], "refParkingSite": "urn:ngsi-ld:ParkingSite:steward-demo"}
            }),
            Kind::Streetlight => serde_json::json!({
                "type": "Streetlight",
                "attributes": [
                    {"reading": "on", "attribute": "powerState", "values": {"true": "on", "false": "off"}},
                    {"reading": "dim", "attribute": "illuminanceLevel", "scale": 0.01},
                    {"reading": "power", "attribute": "powerConsumption"}
                ],
                "static": {"status": "ok"}
            }),
            // No Smart Data Models schema for weather is shipped: not exported.
            Kind::Weather => return None,
        };
        serde_json::from_value(declaration).ok()
    }
    fn period(self) -> Duration {
        match self {
            Kind::AirQuality => Duration::from_secs(5),
            Kind::Parking => Duration::from_secs(7),
            Kind::Streetlight => Duration::from_secs(10),
            Kind::Noise => Duration::from_secs(6),
            Kind::Weather => Duration::from_secs(8),
        }
    }
}

/// A client TLS configuration holding a device's certificate.
pub fn device_tls(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes())?)?;
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes())?];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?,
    ))
}

/// One message as a device of this kind would send it.
fn pack(kind: Kind, state: &mut f64, rng: &mut impl Rng, (lat, lon): (f64, f64)) -> Vec<u8> {
    let now = SystemClock.now();
    match kind {
        Kind::AirQuality => {
            *state = (*state + rng.random_range(-1.5..1.5)).clamp(2.0, 80.0);
            json_bytes(serde_json::json!([
                {"bn": "urn:steward:aq:", "bt": now, "n": "pm2_5", "u": "ug/m3", "v": (*state * 10.0).round() / 10.0},
                {"n": "pm10", "u": "ug/m3", "v": (*state * 17.0).round() / 10.0},
                {"n": "no2", "u": "ppb", "v": rng.random_range(5.0..40.0_f64).round()},
                {"n": "temperature", "u": "Cel", "v": (rng.random_range(8.0..14.0_f64) * 10.0).round() / 10.0},
                {"n": "humidity", "u": "%RH", "v": rng.random_range(55.0..80.0_f64).round()},
                {"n": "lat", "u": "lat", "v": lat},
                {"n": "lon", "u": "lon", "v": lon}
            ]))
        }
        Kind::Noise => {
            *state = (*state + rng.random_range(-3.0..3.0)).clamp(35.0, 85.0);
            let level = (*state * 10.0).round() / 10.0;
            let json = json_bytes(serde_json::json!([
                {"bn": "urn:steward:noise:", "bt": now, "n": "LAeq", "u": "dB", "v": level},
                {"n": "LAmax", "u": "dB", "v": level + rng.random_range(2.0..9.0_f64).round()},
                {"n": "lat", "u": "lat", "v": lat},
                {"n": "lon", "u": "lon", "v": lon}
            ]));
            senml::Pack::from_json(&json)
                .and_then(|p| p.to_cbor())
                .unwrap_or_default()
        }
        Kind::Weather => {
            *state = (*state + rng.random_range(-0.5..0.5)).clamp(-10.0, 35.0);
            // An LwM2M client's SenML JSON (OMA LwM2M 1.1 Core): object/instance/
            // resource paths, no units (the registry gives them).
            json_bytes(serde_json::json!([
                {"bn": "/3303/0/", "bt": now, "n": "5700", "v": (*state * 10.0).round() / 10.0},
                {"bn": "/3304/0/", "n": "5700", "v": rng.random_range(55.0..90.0_f64).round()},
                {"bn": "/3315/0/", "n": "5700", "v": rng.random_range(99_000.0..103_000.0_f64).round()},
                {"bn": "/6/0/", "n": "0", "v": lat},
                {"n": "1", "v": lon}
            ]))
        }
        Kind::Parking => {
            if rng.random_bool(0.3) {
                *state = 1.0 - *state;
            }
            // Cayenne LPP: channel 1, type 102 (presence), one byte; channel 1,
            // type 136 (GPS): latitude, longitude (0.0001°), altitude (0.01 m),
            // 3 bytes each, signed, big-endian.
            let mut p = vec![0x01, 0x66, u8::from(*state > 0.5), 0x01, 0x88];
            for v in [(lat * 1e4).round() as i32, (lon * 1e4).round() as i32, 0] {
                p.extend_from_slice(&v.to_be_bytes()[1..]);
            }
            p
        }
        Kind::Streetlight => {
            let dim = if *state > 0.5 { 100.0 } else { 40.0 };
            json_bytes(serde_json::json!({
                "ts": (now * 1000.0).round(),
                "pos": {"lat": lat, "lon": lon},
                "state": {
                    "on": true,
                    "dim": dim,
                    "power_w": (dim * 0.9 + rng.random_range(-2.0..2.0_f64) * 10.0).round() / 10.0
                }
            }))
        }
    }
}

fn json_bytes(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A fixed position for a device, spread over a city centre (Amsterdam), from
/// its id.
fn position(id: &str) -> (f64, f64) {
    let h = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let (a, b) = (
        f64::from(h % 1000) / 1000.0,
        f64::from((h / 1000) % 1000) / 1000.0,
    );
    (52.36 + a * 0.02, 4.88 + b * 0.03)
}

async fn device_loop(
    id: String,
    kind: Kind,
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    agent: Option<crate::updates::agent::AgentOptions>,
) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(id.clone(), "localhost", addr.port());
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    let (client, mut events) = AsyncClient::new(opts, 16);
    let updater = agent
        .map(|o| crate::updates::agent::Updater::new(o, client.clone()))
        .transpose()?;
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(ev) => {
                    if let Some(u) = &updater {
                        u.on_event(&ev);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "demo device connection; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    });
    let topic = format!("{}/{id}/telemetry", crate::ingest::mqtt::TOPIC_ROOT);
    let mut state = 20.0_f64;
    let position = position(&id);
    // Spread the fleet's publishes over the period.
    let start = rand::rng().random_range(0..kind.period().as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(start)).await;
    let mut tick = tokio::time::interval(kind.period());
    loop {
        tick.tick().await;
        let body = {
            let mut rng = rand::rng();
            pack(kind, &mut state, &mut rng, position)
        };
        client
            .publish(&topic, QoS::AtLeastOnce, false, body)
            .await?;
    }
}

/// How a simulated device authenticates.
enum Creds {
    Tls(Arc<rustls::ClientConfig>),
    Psk(String),
}

/// A CoAP device: one DTLS session, a confirmable POST per period; a new session
/// after any error.
async fn coap_device_loop(
    id: String,
    kind: Kind,
    addr: SocketAddr,
    key: String,
) -> anyhow::Result<()> {
    use crate::ingest::coap::client::CoapClient;
    let content_format = kind
        .coap_content_format()
        .context("not a CoAP device kind")?;
    let mut state = match kind {
        Kind::Weather => 12.0_f64,
        _ => 55.0_f64,
    };
    let position = position(&id);
    let start = rand::rng().random_range(0..kind.period().as_millis() as u64);
    tokio::time::sleep(Duration::from_millis(start)).await;
    let mut tick = tokio::time::interval(kind.period());
    let mut client: Option<CoapClient> = None;
    loop {
        tick.tick().await;
        if client.is_none() {
            match CoapClient::connect(addr, &id, &key).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::debug!(device = %id, error = %e, "demo CoAP handshake; retrying");
                    continue;
                }
            }
        }
        let body = {
            let mut rng = rand::rng();
            pack(kind, &mut state, &mut rng, position)
        };
        if let Some(c) = client.as_mut() {
            match c.post(content_format, &body).await {
                Ok(r) if r.code == coap_lite::ResponseType::Changed => {}
                Ok(r) => {
                    tracing::warn!(device = %id, code = ?r.code, payload = %String::from_utf8_lossy(&r.payload), "demo CoAP post refused");
                }
                Err(e) => {
                    tracing::debug!(device = %id, error = %e, "demo CoAP post; reconnecting");
                    client = None;
                }
            }
        }
    }
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let (_tmp, data_path) = match opts.data {
        Some(p) => (None, p),
        None => {
            let t = tempfile::Builder::new()
                .prefix("steward-demo-")
                .tempdir()
                .context("creating a temporary data directory")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let mut config = Config::default();
    config.server.data = data_path;
    config.server.http = opts.http;
    config.server.mqtts = opts.mqtts;
    config.server.coaps = opts.coaps;
    let data = server::open_data_dir(&config, Arc::new(SystemClock))?;
    let (http, mqtts) = server::bind(&config).await?;
    let coaps = server::bind_coaps(&config).await?;
    let http_addr = http.local_addr()?;
    let scheme = server::http_scheme(&config, http_addr);
    let mqtts_addr = mqtts.local_addr()?;
    let mut coaps_addr = coaps.local_addr()?;
    if coaps_addr.ip().is_unspecified() {
        coaps_addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let admin = match &data.new_admin_token {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(data.path.join("admin-token"))?
            .trim()
            .to_string(),
    };

    let kinds = [
        Kind::AirQuality,
        Kind::Parking,
        Kind::Streetlight,
        Kind::Noise,
        Kind::Weather,
    ];
    let psk = crate::ingest::coap::PskKeys::load_or_create(&data.path)?;
    for kind in kinds {
        match data.registry.model(kind.model()) {
            Ok(_) => {
                data.registry.update_model(
                    kind.model(),
                    crate::registry::ModelPatch {
                        decoder: Some(kind.decoder()),
                        ..Default::default()
                    },
                )?;
            }
            Err(_) => {
                data.registry.create_model(crate::registry::Model {
                    id: uuid::Uuid::new_v4().to_string(),
                    manufacturer: "Steward demo".into(),
                    name: kind.model().into(),
                    mud_url: None,
                    decoder: kind.decoder(),
                    created: SystemClock.now(),
                })?;
            }
        }
    }
    let semantics = crate::semantics::Semantics::new()?;
    for kind in kinds {
        semantics.declare(
            &data.registry,
            kind.model(),
            None,
            kind.ngsi(),
            SystemClock.now(),
        )?;
    }
    let mut fleet = Vec::new();
    for i in 0..opts.devices {
        let kind = kinds[i % kinds.len()];
        let name = format!("{}-{:03}", kind.model(), i / kinds.len() + 1);
        // A reused data directory: the device is made again with a new certificate.
        if let Ok(old) = data.registry.get(&name) {
            data.registry.delete(&old.id)?;
        }
        if kind.coap_content_format().is_some() {
            let device = data.registry.create_device(NewDevice {
                name,
                model: kind.model().into(),
                zone: None,
                tags: vec!["demo".into(), "coap".into()],
                firmware_version: Some("1.0.0".into()),
            })?;
            let (_, key) = psk.issue(&data.registry, &device.id)?;
            fleet.push((device.id, kind, Creds::Psk(key)));
            continue;
        }
        let issued = data.registry.add_device_with_certificate(
            NewDevice {
                name,
                model: kind.model().into(),
                zone: None,
                tags: vec!["demo".into()],
                firmware_version: Some("1.0.0".into()),
            },
            None,
        )?;
        let key = issued.key_pem.context("demo keys are made here")?;
        let tls = device_tls(&issued.ca_pem, &issued.cert_pem, &key)?;
        fleet.push((issued.device.id, kind, Creds::Tls(tls)));
    }
    let example = fleet
        .first()
        .map(|(id, _, _)| id.clone())
        .unwrap_or_default();

    println!("Steward demo: {} simulated devices", fleet.len());
    println!("  data directory: {}", data.path.display());
    println!("  HTTP API:       {scheme}://{http_addr}/api/v1/openapi.json");
    println!("  MQTT/TLS:       {mqtts_addr}");
    println!("  CoAP/DTLS-PSK:  {coaps_addr}");
    println!("  admin token:    {admin}");
    println!("Live readings:");
    println!(
        "  curl -N -H 'Authorization: Bearer {admin}' http://{http_addr}/api/v1/readings/stream"
    );
    println!("Latest values of one device:");
    println!(
        "  curl -H 'Authorization: Bearer {admin}' http://{http_addr}/api/v1/devices/{example}/latest"
    );
    // A firmware release for the streetlights and a campaign in waves to them.
    config.updates.renotify_secs = 5;
    let release = crate::updates::Updates::open(
        &data.path,
        data.registry.clone(),
        Arc::new(SystemClock),
        config.updates.max_payload_bytes,
    )
    .map_err(anyhow::Error::from)
    .and_then(|u| crate::updates::demo::prepare(&u, Kind::Streetlight.model()));
    let maker = match release {
        Ok(r) => {
            println!(
                "Firmware campaign {} to {} streetlights (waves: 2, 25 %, 100 %):",
                r.campaign.name, r.devices
            );
            println!(
                "  steward campaign watch {} --data {}",
                r.campaign.id,
                data.path.display()
            );
            Some(r.maker.verifying_key())
        }
        Err(e) => {
            println!("No firmware campaign: {e}");
            None
        }
    };
    println!("Press Ctrl-C to stop.");

    for (id, kind, creds) in fleet {
        let agent = match (&maker, kind, &creds) {
            (Some(key), Kind::Streetlight, Creds::Tls(tls)) => {
                Some(crate::updates::agent::AgentOptions {
                    device_id: id.clone(),
                    mqtt_host: "localhost".into(),
                    mqtt_port: mqtts_addr.port(),
                    tls: tls.clone(),
                    maker_key: key.clone(),
                    vendor_id: crate::updates::demo::VENDOR_ID,
                    class_id: crate::updates::demo::CLASS_ID,
                    fail_share: crate::updates::demo::FAIL_SHARE,
                    interrupt_after: None,
                    max_image: 16 << 20,
                    install_time: Duration::from_secs(2),
                    installed_seq: 0,
                })
            }
            _ => None,
        };
        tokio::spawn(async move {
            let result = match creds {
                Creds::Tls(tls) => device_loop(id.clone(), kind, mqtts_addr, tls, agent).await,
                Creds::Psk(key) => coap_device_loop(id.clone(), kind, coaps_addr, key).await,
            };
            if let Err(e) = result {
                tracing::warn!(device = %id, error = %e, "demo device stopped");
            }
        });
    }
    let shutdown = async move {
        match opts.seconds {
            Some(s) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(s)) => {}
                _ = server::signals() => {}
            },
            None => server::signals().await,
        }
    };
    server::run(config, data, http, mqtts, coaps, shutdown).await
}
