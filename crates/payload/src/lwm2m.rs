//! The `lwm2m` decoder: SenML packs whose names are LwM2M paths
//! (`/object/instance/resource[/resource-instance]`, as in the SenML JSON and CBOR
//! content formats of OMA LightweightM2M 1.1 Core), from
//! the name, a base name (`bn: "/3303/0/"`, `n: "5700"`) or both, renamed with the
//! OMA LwM2M / IPSO registry ([`lookup`], table in `lwm2m_table.rs`).
//!
//! Naming scheme: `<object>/<instance>/<resource>[/<resource-instance>]`, where
//! object and resource are the registry's names in snake case:
//! `/3303/0/5700` → `temperature/0/sensor_value`. Where two registry objects (or two
//! resources of one object) share a name, the lowest id keeps it and the others get
//! `_<id>` appended (`tools/gen_lwm2m.py` decides, at generation time).
//!
//! Units: the record's own unit (`u` or `bu`) wins; otherwise the registry's unit.
//! The registry leaves the unit of most IPSO sensor values empty (the device says it
//! in resource 5701); for the common sensor objects the table carries the unit their
//! description names (3303 temperature → `Cel`, 3304 humidity → `%RH`, ...; see the
//! generator). Registry units that SenML does not register (`mg/l`, `NTU`, `ppt`,
//! `Ws`, ...) are kept and resolve as [`senml::UnitStatus::Unknown`].
//!
//! Unknown objects or resources are not an error (vendors define private objects):
//! the reading keeps the path as its name, without the leading `/` that SenML names
//! may not start with (`/32769/0/1` → `32769/0/1`), or with the known object's name
//! (`temperature/0/9999`), and carries the extension `lwm2m_unknown: true`. Every
//! reading carries the original path in the extension `lwm2m_path`.
//! A name that is not an LwM2M path at all is an error naming the record.

use senml::{Extension, Record, Resolver};

use crate::lwm2m_table::{OBJECTS, RESOURCES};
use crate::{DecodeError, Limits, Media, pack};

/// A registry entry: the object and resource names (snake case) and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub object: &'static str,
    pub name: &'static str,
    /// The SenML unit symbol, if the registry (or the table's sensor defaults) gives one.
    pub unit: Option<&'static str>,
}

/// The name of an object in the registry.
pub fn object_name(object: u32) -> Option<&'static str> {
    OBJECTS
        .binary_search_by_key(&object, |&(id, _)| id)
        .ok()
        .map(|i| OBJECTS[i].1)
}

/// Look a resource up in the registry table.
pub fn lookup(object: u32, resource: u32) -> Option<Resource> {
    let obj = object_name(object)?;
    let i = RESOURCES
        .binary_search_by_key(&(object, resource), |&(o, r, _, _)| (o, r))
        .ok()?;
    let (_, _, name, unit) = RESOURCES[i];
    Some(Resource {
        object: obj,
        name,
        unit: (!unit.is_empty()).then_some(unit),
    })
}

/// The number of objects in the table.
pub fn object_count() -> usize {
    OBJECTS.len()
}

/// The object ids in the table, ascending.
pub fn object_ids() -> impl Iterator<Item = u32> {
    OBJECTS.iter().map(|&(id, _)| id)
}

/// A parsed LwM2M path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Path {
    object: u32,
    instance: u32,
    resource: u32,
    resource_instance: Option<u32>,
}

fn parse_path(path: &str) -> Result<Path, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "name {path:?} is not an LwM2M path: it must start with `/` (`/3303/0/5700`)"
        ));
    };
    let mut ids = Vec::with_capacity(4);
    for part in rest.split('/') {
        if ids.len() == 4 {
            return Err(format!("name {path:?} has more than 4 path segments"));
        }
        let id: u32 = part
            .parse()
            .ok()
            .filter(|id| *id <= 65535 && !part.starts_with('+'))
            .ok_or_else(|| {
                format!("name {path:?}: segment {part:?} is not an id from 0 to 65535")
            })?;
        ids.push(id);
    }
    match ids[..] {
        [object, instance, resource] => Ok(Path {
            object,
            instance,
            resource,
            resource_instance: None,
        }),
        [object, instance, resource, ri] => Ok(Path {
            object,
            instance,
            resource,
            resource_instance: Some(ri),
        }),
        _ => Err(format!(
            "name {path:?} does not name a resource (`/object/instance/resource`)"
        )),
    }
}

/// The reading name for a path, and whether the registry knows it.
fn reading_name(p: Path) -> (String, Option<&'static str>, bool) {
    let tail = p
        .resource_instance
        .map(|ri| format!("/{ri}"))
        .unwrap_or_default();
    match (lookup(p.object, p.resource), object_name(p.object)) {
        (Some(r), _) => (
            format!("{}/{}/{}{tail}", r.object, p.instance, r.name),
            r.unit,
            true,
        ),
        (None, Some(obj)) => (
            format!("{obj}/{}/{}{tail}", p.instance, p.resource),
            None,
            false,
        ),
        (None, None) => (
            format!("{}/{}/{}{tail}", p.object, p.instance, p.resource),
            None,
            false,
        ),
    }
}

pub(crate) fn decode(
    payload: &[u8],
    media: Media,
    now: f64,
    limits: Limits,
) -> Result<Vec<senml::Resolved>, DecodeError> {
    let pack = pack::parse(payload, media, "lwm2m", limits)?;
    let mut resolver = Resolver::new(now);
    let mut base_name = String::new();
    let mut out = Vec::new();
    for (index, r) in pack.records.iter().enumerate() {
        if let Some(bn) = &r.base_name {
            base_name.clone_from(bn);
        }
        // The base name is applied here, so the resolver sees none.
        let mut record = Record {
            base_name: None,
            ..r.clone()
        };
        if record.is_base_only() {
            resolver.push(index, &record)?;
            continue;
        }
        let path = format!("{base_name}{}", r.name.as_deref().unwrap_or(""));
        let parsed = parse_path(&path).map_err(|reason| DecodeError::Lwm2m { index, reason })?;
        let (name, unit, known) = reading_name(parsed);
        record.name = Some(name);
        let Some(mut reading) = resolver.push(index, &record)? else {
            continue;
        };
        if reading.unit.is_none()
            && let Some(unit) = unit
        {
            reading.unit = Some(unit.to_owned());
            reading.unit_status = senml::units::status(Some(unit));
        }
        reading
            .extensions
            .insert("lwm2m_path".into(), Extension::String(path));
        if !known {
            reading
                .extensions
                .insert("lwm2m_unknown".into(), Extension::Bool(true));
        }
        out.push(reading);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/3303/0/5700"),
            Ok(Path {
                object: 3303,
                instance: 0,
                resource: 5700,
                resource_instance: None
            })
        );
        assert!(parse_path("/3303/0/5700/1").is_ok());
        for bad in [
            "3303/0/5700",
            "/3303/0",
            "/3303//5700",
            "/3303/0/70000",
            "/a/0/1",
            "/1/2/3/4/5",
            "/+1/0/1",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }
}
