// Shared by the targets (included with `include!`, as cargo-fuzz targets are
// separate binaries): whatever a decoder accepts must be a well-formed set of
// readings within the limits.

fn check(result: Result<Vec<senml::Resolved>, payload::DecodeError>, limits: payload::Limits) {
    let Ok(readings) = result else {
        return;
    };
    assert!(readings.len() <= limits.max_readings, "too many readings");
    for r in &readings {
        senml::check_name(&r.name).expect("reading names are valid SenML names");
        assert!(r.time.is_finite(), "time is finite");
        if let Some(senml::Value::Number(x)) = r.value {
            assert!(x.is_finite(), "{}: value {x} is finite", r.name);
        }
    }
}

const LIMITS: payload::Limits = payload::Limits {
    max_payload: 4096,
    max_readings: 64,
};
