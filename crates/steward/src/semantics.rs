//! The gateway side of semantic interoperability: where a model keeps its thing
//! spec and NGSI-LD mapping (the store's `model_semantics` side table), and the
//! operations the API and the CLI share: a model's Thing Model, a device's Thing
//! Description, SDF import, NGSI-LD entities from the latest readings. The
//! standards live in the `semantic` crate (no I/O); this file only joins them to
//! the registry and the store.

use std::net::SocketAddr;
use std::sync::Arc;

use semantic::ngsi::{DeviceRef, Mapping};
use semantic::{
    DataType, DeviceInfo, Endpoints, Entity, Exporter, Imported, ModelInfo, NotExported, Observed,
    ObservedValue, PayloadFormat, SdfImporter, SemanticError, ThingSpec, WotValidator,
};
use serde_json::Value;

use crate::config::Config;
use crate::registry::{Device, Model, Reading, ReadingValue, Registry, RegistryError};
use crate::store::{ModelSemanticsRow, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SemanticsError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Semantic(#[from] SemanticError),
    #[error("the stored {what} of model `{model}` is unreadable: {reason}")]
    Corrupt {
        model: String,
        what: &'static str,
        reason: String,
    },
}

impl SemanticsError {
    /// Whether the caller's input is at fault (HTTP 400) rather than the server.
    pub fn is_client_error(&self) -> bool {
        match self {
            SemanticsError::Semantic(SemanticError::Schema { .. }) => false,
            SemanticsError::Semantic(_) => true,
            SemanticsError::Registry(RegistryError::Invalid { .. }) => true,
            _ => false,
        }
    }
}

/// What a model declares about semantics (both optional).
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ModelSemantics {
    #[schema(value_type = Option<Object>)]
    pub thing: Option<ThingSpec>,
    #[schema(value_type = Option<Object>)]
    pub ngsi: Option<Mapping>,
}

/// The compiled schemas, built once per process.
pub struct Semantics {
    pub wot: WotValidator,
    pub sdf: SdfImporter,
    pub exporter: Exporter,
}

/// The endpoints a TD's forms point at, from the configuration and the
/// addresses actually bound (port 0 in tests): a wildcard address is named by the
/// first configured host name.
pub fn endpoints(
    config: &Config,
    http: SocketAddr,
    mqtts: Option<SocketAddr>,
    coaps: Option<SocketAddr>,
) -> Endpoints {
    let host = |addr: SocketAddr| -> String {
        let ip = addr.ip();
        let name = if ip.is_unspecified() {
            config
                .server
                .hostnames
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into())
        } else {
            ip.to_string()
        };
        if name.contains(':') {
            format!("[{name}]:{}", addr.port())
        } else {
            format!("{name}:{}", addr.port())
        }
    };
    Endpoints {
        http: format!(
            "{}://{}",
            crate::server::http_scheme(config, http),
            host(http)
        ),
        mqtt: mqtts.map(|m| format!("mqtts://{}", host(m))),
        coap: coaps.map(|c| format!("coaps://{}", host(c))),
    }
}

/// A stored reading as the semantic layer sees it.
pub fn observed(r: &Reading) -> Observed {
    Observed {
        name: r.name.clone(),
        unit: r.unit.clone(),
        value: match &r.value {
            Some(ReadingValue::Number(n)) => ObservedValue::Number(*n),
            Some(ReadingValue::Bool(b)) => ObservedValue::Bool(*b),
            Some(ReadingValue::String(s)) => ObservedValue::String(s.clone()),
            Some(ReadingValue::Data(_)) | None => ObservedValue::Data,
        },
        time: r.time,
    }
}

impl Semantics {
    pub fn new() -> Result<Semantics, SemanticError> {
        Ok(Semantics {
            wot: WotValidator::new()?,
            sdf: SdfImporter::new()?,
            exporter: Exporter::new()?,
        })
    }

    /// A model's declarations (none stored: both empty).
    pub fn load(
        &self,
        registry: &Registry,
        model: &Model,
    ) -> Result<ModelSemantics, SemanticsError> {
        let Some(row) = registry.store().model_semantics(&model.id)? else {
            return Ok(ModelSemantics::default());
        };
        let corrupt = |what, e: serde_json::Error| SemanticsError::Corrupt {
            model: model.name.clone(),
            what,
            reason: e.to_string(),
        };
        Ok(ModelSemantics {
            thing: row
                .thing
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt("thing spec", e))?,
            ngsi: row
                .ngsi
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt("NGSI-LD mapping", e))?,
        })
    }

    /// Check declarations completely before anything is stored.
    pub fn check(&self, model: ModelInfo<'_>, sem: &ModelSemantics) -> Result<(), SemanticsError> {
        if let Some(t) = &sem.thing {
            t.validate()?;
            let tm = semantic::thing_model(model, t)?;
            self.wot
                .check_tm(&tm, &format!("the Thing Model of `{}`", model.name))?;
        }
        if let Some(m) = &sem.ngsi {
            self.exporter.check_mapping(m)?;
        }
        Ok(())
    }

    /// Replace a model's declarations (`None` leaves that part as it is).
    pub fn declare(
        &self,
        registry: &Registry,
        model_name: &str,
        thing: Option<ThingSpec>,
        ngsi: Option<Mapping>,
        now: f64,
    ) -> Result<ModelSemantics, SemanticsError> {
        let model = registry.model(model_name)?;
        let mut sem = self.load(registry, &model)?;
        if thing.is_some() {
            sem.thing = thing;
        }
        if ngsi.is_some() {
            sem.ngsi = ngsi;
        }
        self.check(info(&model), &sem)?;
        let corrupt = |what, e: serde_json::Error| SemanticsError::Corrupt {
            model: model.name.clone(),
            what,
            reason: e.to_string(),
        };
        let row = ModelSemanticsRow {
            model_id: model.id.clone(),
            thing: sem
                .thing
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| corrupt("thing spec", e))?,
            ngsi: sem
                .ngsi
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| corrupt("NGSI-LD mapping", e))?,
        };
        registry.store().set_model_semantics(&row, now)?;
        Ok(sem)
    }

    /// The model's thing spec: what it declares, plus the readings its decoder
    /// names (a json-map decoder lists them with units).
    pub fn model_spec(&self, model: &Model, sem: &ModelSemantics) -> ThingSpec {
        let spec = sem.thing.clone().unwrap_or_default();
        match &model.decoder {
            payload::Decoder::JsonMap(map) => spec.with_readings(map.readings.iter().map(|f| {
                let t = match f.kind {
                    payload::FieldType::Number => DataType::Number,
                    payload::FieldType::Bool => DataType::Boolean,
                    payload::FieldType::String => DataType::String,
                };
                (f.name.as_str(), f.unit.as_deref(), t)
            })),
            _ => spec,
        }
    }

    /// The Thing Model of a model, checked against the TM schema.
    pub fn thing_model(
        &self,
        registry: &Registry,
        model_name: &str,
    ) -> Result<Value, SemanticsError> {
        let model = registry.model(model_name)?;
        let sem = self.load(registry, &model)?;
        let tm = semantic::thing_model(info(&model), &self.model_spec(&model, &sem))?;
        self.wot
            .check_tm(&tm, &format!("the Thing Model of `{}`", model.name))?;
        Ok(tm)
    }

    /// The Thing Description of a device: its model's spec plus the readings it
    /// has sent, with forms on `endpoints`; checked against the TD schema.
    pub fn thing_description(
        &self,
        registry: &Registry,
        device: &str,
        endpoints: &Endpoints,
    ) -> Result<Value, SemanticsError> {
        let d = registry.get(device)?;
        let model = registry.model(&d.model)?;
        let sem = self.load(registry, &model)?;
        let latest: Vec<Observed> = registry
            .store()
            .latest(&d.id)?
            .iter()
            .map(observed)
            .collect();
        let spec = self.model_spec(&model, &sem).with_readings(
            latest
                .iter()
                .map(|o| (o.name.as_str(), o.unit.as_deref(), o.value.data_type())),
        );
        let td = semantic::thing_description(
            DeviceInfo {
                id: &d.id,
                name: &d.name,
                firmware_version: d.firmware_version.as_deref(),
            },
            info(&model),
            &spec,
            payload_format(&model.decoder),
            endpoints,
        )?;
        self.wot
            .check_td(&td, &format!("the Thing Description of `{}`", d.name))?;
        Ok(td)
    }

    /// Turn an SDF file into a new model with its thing spec. Nothing is stored
    /// unless all of it is valid.
    pub fn import_sdf(
        &self,
        registry: &Registry,
        bytes: &[u8],
        origin: &str,
        name: Option<&str>,
        manufacturer: Option<&str>,
        now: f64,
    ) -> Result<(Model, Imported), SemanticsError> {
        let mut imported = self.sdf.import(bytes, origin)?;
        if let Some(n) = name {
            imported.name = n.to_string();
        }
        if let Some(m) = manufacturer {
            imported.manufacturer = m.to_string();
        }
        let model = Model {
            id: uuid::Uuid::new_v4().to_string(),
            manufacturer: imported.manufacturer.clone(),
            name: imported.name.clone(),
            mud_url: None,
            decoder: payload::Decoder::Senml,
            created: now,
        };
        let sem = ModelSemantics {
            thing: Some(imported.spec.clone()),
            ngsi: None,
        };
        self.check(info(&model), &sem)?;
        let model = registry.create_model(model)?;
        if let Err(e) = self.declare(registry, &model.name, sem.thing, None, now) {
            // Leave no model without the thing spec it was imported for.
            let _ = registry.delete_model(&model.name);
            return Err(e);
        }
        Ok((model, imported))
    }

    /// The entity of one device, or why there is none.
    fn device_entity(
        &self,
        registry: &Registry,
        d: &Device,
        mapping: &Mapping,
    ) -> Result<Result<Entity, NotExported>, SemanticsError> {
        let latest: Vec<Observed> = registry
            .store()
            .latest(&d.id)?
            .iter()
            .map(observed)
            .collect();
        Ok(self.exporter.entity(
            mapping,
            DeviceRef {
                id: &d.id,
                name: &d.name,
            },
            &latest,
        )?)
    }

    /// Every model's mapping, by model name.
    fn mappings(&self, registry: &Registry) -> Result<Vec<(String, Mapping)>, SemanticsError> {
        let models = registry.store().models()?;
        let mut out = Vec::new();
        for m in models {
            if let Some(mapping) = self.load(registry, &m)?.ngsi {
                out.push((m.name, mapping));
            }
        }
        Ok(out)
    }

    /// The entities of the given types (all exported types when `types` is
    /// empty), in device order; devices without an entity yet are left out.
    pub fn entities(
        &self,
        registry: &Registry,
        types: &[String],
        ids: &[String],
    ) -> Result<Vec<Entity>, SemanticsError> {
        let mappings = self.mappings(registry)?;
        let mut out = Vec::new();
        for d in registry.list()? {
            let Some((_, mapping)) = mappings.iter().find(|(m, _)| *m == d.model) else {
                continue;
            };
            if !types.is_empty() && !types.contains(&mapping.entity_type) {
                continue;
            }
            if !ids.is_empty()
                && !ids
                    .iter()
                    .any(|i| *i == format!("urn:ngsi-ld:{}:{}", mapping.entity_type, d.id))
            {
                continue;
            }
            match self.device_entity(registry, &d, mapping)? {
                Ok(e) => out.push(e),
                Err(reason) => tracing::debug!(device = %d.id, %reason, "no NGSI-LD entity"),
            }
        }
        Ok(out)
    }

    /// One entity by its id (`urn:ngsi-ld:{type}:{device id}`): `Ok(None)` when no
    /// device and type match, the inner error when the device has no entity yet.
    pub fn entity(
        &self,
        registry: &Registry,
        id: &str,
    ) -> Result<Option<Result<Entity, NotExported>>, SemanticsError> {
        let Some(rest) = id.strip_prefix("urn:ngsi-ld:") else {
            return Ok(None);
        };
        let Some((entity_type, device_id)) = rest.split_once(':') else {
            return Ok(None);
        };
        let d = match registry.get(device_id) {
            Ok(d) if d.id == device_id => d,
            Ok(_) | Err(RegistryError::NoDevice(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let model = registry.model(&d.model)?;
        let Some(mapping) = self.load(registry, &model)?.ngsi else {
            return Ok(None);
        };
        if mapping.entity_type != entity_type {
            return Ok(None);
        }
        Ok(Some(self.device_entity(registry, &d, &mapping)?))
    }
}

/// What a TD's uplink forms say about the payload: the model's decoder.
pub fn payload_format(decoder: &payload::Decoder) -> PayloadFormat {
    match decoder {
        payload::Decoder::Senml => PayloadFormat::Senml,
        payload::Decoder::Lwm2m => PayloadFormat::Lwm2m,
        payload::Decoder::JsonMap(_) => PayloadFormat::JsonMap,
        payload::Decoder::CayenneLpp => PayloadFormat::CayenneLpp,
    }
}

fn info(m: &Model) -> ModelInfo<'_> {
    ModelInfo {
        name: &m.name,
        manufacturer: &m.manufacturer,
    }
}

/// A declaration from the command line or a file: inline JSON, or `@FILE`.
pub fn read_declaration(arg: &str) -> Result<String, String> {
    match arg.strip_prefix('@') {
        Some(path) => {
            let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
            if meta.len() > 1024 * 1024 {
                return Err(format!("{path}: {} bytes, more than 1 MiB", meta.len()));
            }
            std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
        }
        None => Ok(arg.to_string()),
    }
}

/// Parse a thing spec declaration (JSON).
pub fn parse_thing(arg: &str) -> Result<ThingSpec, String> {
    let text = read_declaration(arg)?;
    let spec: ThingSpec =
        serde_json::from_str(&text).map_err(|e| format!("not a thing spec: {e}"))?;
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Parse an NGSI-LD mapping declaration (JSON); the full check needs the schemas
/// and happens when it is declared.
pub fn parse_mapping(arg: &str) -> Result<Mapping, String> {
    let text = read_declaration(arg)?;
    Mapping::parse(&text).map_err(|e| e.to_string())
}

/// Shared, compiled once.
pub type Shared = Arc<Semantics>;
