//! Wiring: open the data directory (store, CA, admin token, made on first run),
//! start the commit thread, the MQTT broker, the CoAP endpoint and the HTTP API on
//! bound listeners,
//! and shut everything down in order when told to.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::ingest::Ingest;
use crate::ingest::coap::{CoapServer, PskKeys};
use crate::ingest::mqtt::Broker;
use crate::metrics::Metrics;
use crate::pki::{Pki, write_new_file};
use crate::registry::{Registry, new_secret, secret_hash};
use crate::store::Store;
use crate::store::commit::Committer;
use crate::store::sqlite::SqliteStore;

const ADMIN_HASH_KEY: &str = "admin_token_sha256";

/// An opened data directory.
pub struct DataDir {
    pub path: PathBuf,
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    /// The admin token, when this run created it (it is printed once).
    pub new_admin_token: Option<String>,
    pub admin_hash: String,
}

/// Open `config.server.data`, creating the store, the CA and the admin token on
/// first run. Safe to call from several processes at once (server and CLI).
pub fn open_data_dir(config: &Config, clock: SharedClock) -> anyhow::Result<DataDir> {
    let path = config.server.data.clone();
    create_private_dir(&path)?;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&path.join("steward.db"), config.store.synchronous)
            .map_err(|e| anyhow::anyhow!("opening the store in {}: {e}", path.display()))?,
    );
    // The update tables too, before anyone is told the gateway is up.
    crate::updates::store::UpdateStore::open(&path.join("steward.db"))
        .map_err(|e| anyhow::anyhow!("opening the update tables in {}: {e}", path.display()))?;
    let pki = Arc::new(Pki::load_or_create(&path, &config.server.hostnames)?);
    let (new_admin_token, admin_hash) = admin_token(&path, store.as_ref())?;
    let registry = Registry::new(store.clone(), pki, clock);
    Ok(DataDir {
        path,
        store,
        registry,
        new_admin_token,
        admin_hash,
    })
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !path.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| anyhow::anyhow!("creating data directory {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The admin token: generated once, written to `admin-token` (0600); the store
/// keeps only its hash.
fn admin_token(dir: &Path, store: &dyn Store) -> anyhow::Result<(Option<String>, String)> {
    if let Some(hash) = store.meta(ADMIN_HASH_KEY)? {
        return Ok((None, hash));
    }
    let file = dir.join("admin-token");
    let token = new_secret("stw_admin_");
    let created = write_new_file(&file, format!("{token}\n").as_bytes(), 0o600)?;
    let token = if created {
        token
    } else {
        std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?
            .trim()
            .to_string()
    };
    let hash = secret_hash(&token);
    store.set_meta(ADMIN_HASH_KEY, &hash)?;
    Ok((created.then_some(token), hash))
}

/// Addresses a running gateway listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub http: SocketAddr,
    pub mqtts: SocketAddr,
    pub coaps: SocketAddr,
}

/// The API's URL scheme for this configuration and bound address.
pub fn http_scheme(config: &Config, addr: SocketAddr) -> &'static str {
    if config.server.http_tls.enabled(addr) {
        "https"
    } else {
        "http"
    }
}

/// The base URL devices download firmware payloads from: `[updates] public_url`,
/// else the API's scheme with the first configured hostname and the bound port.
pub fn public_url(config: &Config, http: SocketAddr) -> String {
    if !config.updates.public_url.is_empty() {
        return config.updates.public_url.trim_end_matches('/').to_string();
    }
    format!(
        "{}://{}:{}",
        http_scheme(config, http),
        url_host(config, http),
        http.port()
    )
}

/// The host devices reach the gateway by: the first configured hostname, else
/// the bound address; an IPv6 address in brackets.
fn url_host(config: &Config, bound: SocketAddr) -> String {
    let host = config
        .server
        .hostnames
        .first()
        .cloned()
        .unwrap_or_else(|| bound.ip().to_string());
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    }
}

/// The base URL constrained devices download firmware payloads from over CoAP
/// (`GET /fw/{sha256}`): `coaps://` with the first configured hostname, as
/// [`public_url`] picks it, and the bound CoAP port.
pub fn coap_url(config: &Config, coaps: SocketAddr) -> String {
    format!("coaps://{}:{}", url_host(config, coaps), coaps.port())
}

/// Bind the configured addresses.
pub async fn bind(config: &Config) -> anyhow::Result<(TcpListener, TcpListener)> {
    let http = TcpListener::bind(config.server.http)
        .await
        .map_err(|e| anyhow::anyhow!("binding HTTP {}: {e}", config.server.http))?;
    let mqtts = TcpListener::bind(config.server.mqtts)
        .await
        .map_err(|e| anyhow::anyhow!("binding MQTT/TLS {}: {e}", config.server.mqtts))?;
    Ok((http, mqtts))
}

/// Bind the CoAP over DTLS address. Every device's datagrams arrive on this
/// one socket: its receive buffer is asked for 4 MiB (the kernel caps it at
/// `net.core.rmem_max`), so bursts from many devices are not dropped before
/// Steward reads them (a dropped confirmable request costs the device a
/// retransmission after 2–3 s, RFC 7252 §4.2).
pub async fn bind_coaps(config: &Config) -> anyhow::Result<UdpSocket> {
    let socket = UdpSocket::bind(config.server.coaps)
        .await
        .map_err(|e| anyhow::anyhow!("binding CoAP/DTLS {}: {e}", config.server.coaps))?;
    if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20) {
        tracing::warn!(error = %e, "CoAP socket receive buffer left at the default");
    }
    Ok(socket)
}

/// Run the gateway on bound listeners until `shutdown` resolves. Order on the way
/// out: stop accepting, let sessions finish their in-flight commits and close, stop
/// the API, then let the commit thread write what is left.
pub async fn run(
    config: Config,
    data: DataDir,
    http: TcpListener,
    mqtts: TcpListener,
    coaps: UdpSocket,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // Fail closed: the enforcer's base table goes in before anything else, then
    // the first compiled policy (netpolicy).
    let clock0: SharedClock = Arc::new(SystemClock);
    let enforcer = Arc::new(crate::enforce::Enforcer::new(
        config.enforce.clone(),
        vec![config.network.lan_interface.clone()],
        clock0.clone(),
    ));
    let mud_fetcher = if config.mud.fetch {
        Some(crate::netpolicy::mudfetch::MudFetcher::new(&config.mud)?)
    } else {
        None
    };
    let netpolicy = crate::netpolicy::PolicyService::new(
        data.registry.clone(),
        enforcer.clone(),
        config.policy.clone(),
        mud_fetcher,
        clock0,
    );
    {
        let np = netpolicy.clone();
        tokio::task::spawn_blocking(move || np.start())
            .await
            .map_err(|e| anyhow::anyhow!("policy start-up: {e}"))??;
    }
    let metrics = Arc::new(Metrics::new());
    data.store.start_maintenance()?;
    let (committer, commit_thread) = Committer::start(
        data.store.clone(),
        config.store.batch_max_readings,
        metrics.clone(),
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let ingest = Ingest::new(committer, clock.clone(), metrics.clone());
    let tls = data.registry.pki().server_tls(&config.mqtt.maker_cas)?;
    let broker = Broker::new(
        data.registry.clone(),
        ingest.clone(),
        config.mqtt.clone(),
        metrics.clone(),
        tls.clone(),
    );
    let updates = crate::updates::Updates::open(
        &data.path,
        data.registry.clone(),
        clock.clone(),
        config.updates.max_payload_bytes,
    )?;
    let update_service = crate::updates::service::UpdateService::new(
        updates,
        broker.clone(),
        config.updates.clone(),
        public_url(&config, http.local_addr()?),
        coap_url(&config, coaps.local_addr()?),
    );
    let coap = CoapServer::new(
        data.registry.clone(),
        ingest.clone(),
        PskKeys::load_or_create(&data.path)?,
        config.coap.clone(),
        metrics.clone(),
        update_service.clone(),
    );
    broker.set_status_sink(update_service.clone());
    broker.set_messaging_policy(netpolicy.clone());
    coap.set_messaging_policy(netpolicy.clone());
    let stop = CancellationToken::new();
    // The devices' DNS forwarder (off unless Steward is the router). Its answers go
    // to the sink that keeps the devices' nftables sets.
    let dns_sink: Arc<dyn crate::enforce::dns::ResolvedSink> = enforcer.clone();
    let dns = crate::enforce::dns::start(
        &config.network,
        &config.dns,
        dns_sink,
        clock.clone(),
        stop.clone(),
    )?;
    // The devices' time server (off unless Steward is the router): what answers
    // when a policy's `ntp` capability opens UDP 123 to Steward.
    let ntp =
        crate::enforce::ntp::start(&config.network, &config.ntp, clock.clone(), stop.clone())?;
    let state = AppState {
        registry: data.registry.clone(),
        ingest: ingest.clone(),
        broker: Some(broker.clone()),
        metrics,
        admin_hash: data.admin_hash.clone().into(),
        max_body: config.http.max_body,
        updates: Some(update_service.updates().clone()),
        semantics: Arc::new(crate::semantics::Semantics::new()?),
        endpoints: Arc::new(crate::semantics::endpoints(
            &config,
            http.local_addr()?,
            Some(mqtts.local_addr()?),
            Some(coaps.local_addr()?),
        )),
        messaging: Some(netpolicy.clone()),
        dns: dns.as_ref().map(|(f, _)| f.clone()),
    };
    tracing::info!(http = %http.local_addr()?, mqtts = %mqtts.local_addr()?, coaps = %coaps.local_addr()?, data = %data.path.display(), "Steward is running");

    tokio::spawn(update_service.run(stop.clone()));
    let api_stop = stop.clone();
    let http_tls = config
        .server
        .http_tls
        .enabled(http.local_addr()?)
        .then(|| tls.clone());
    let api = tokio::spawn(api::serve(http, state, http_tls, async move {
        api_stop.cancelled().await
    }));
    let broker_stop = stop.clone();
    let mqtt = tokio::spawn(broker.run(mqtts, async move { broker_stop.cancelled().await }));
    let policy_loop = tokio::spawn(netpolicy.clone().run(
        stop.clone(),
        std::time::Duration::from_secs(config.enforce.reconcile_secs.max(1)),
    ));
    // The devices' DHCP server (off unless Steward is the router).
    let dhcp = crate::enforce::dhcp::start(
        &config.network,
        &config.dhcp,
        data.registry.clone(),
        clock.clone(),
        stop.clone(),
    )?;
    let coap_stop = stop.clone();
    let coap = tokio::spawn(coap.run(coaps, async move { coap_stop.cancelled().await }));

    shutdown.await;
    tracing::info!("shutting down");
    stop.cancel();
    let _ = mqtt.await;
    if let Some(dhcp) = dhcp {
        let _ = dhcp.await;
    }
    let _ = policy_loop.await;
    if let Some((_, dns)) = dns {
        let _ = dns.await;
    }
    if let Some(ntp) = ntp {
        let _ = ntp.await;
    }
    let _ = coap.await;
    // SSE streams never end by themselves: give the API a moment, then move on.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), api).await;
    drop(ingest);
    commit_thread.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
