//! The campaign engine as plain data, with no I/O: wave planning, per-device
//! state transitions, the halt rule, and what to do next (also after a restart).
//!
//! The I/O layer (`service.rs`) persists every change this module decides
//! *before* acting on it (publishing a notice), so a restart replays nothing and
//! forgets nobody: [`Campaign::step`] is a pure function of the stored state.

use serde::{Deserialize, Serialize};

/// Where one device is in a campaign (issue 6: pending → notified → downloading
/// → installing → succeeded | failed | rolled back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Pending,
    Notified,
    Downloading,
    Installing,
    Succeeded,
    Failed,
    RolledBack,
}

impl DeviceState {
    pub const ALL: [DeviceState; 7] = [
        DeviceState::Pending,
        DeviceState::Notified,
        DeviceState::Downloading,
        DeviceState::Installing,
        DeviceState::Succeeded,
        DeviceState::Failed,
        DeviceState::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Pending => "pending",
            DeviceState::Notified => "notified",
            DeviceState::Downloading => "downloading",
            DeviceState::Installing => "installing",
            DeviceState::Succeeded => "succeeded",
            DeviceState::Failed => "failed",
            DeviceState::RolledBack => "rolled_back",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceState> {
        DeviceState::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeviceState::Succeeded | DeviceState::Failed | DeviceState::RolledBack
        )
    }

    pub fn is_failure(self) -> bool {
        matches!(self, DeviceState::Failed | DeviceState::RolledBack)
    }

    /// Whether a device's report may move it from `self` to `to`. States only
    /// move forward; a terminal state is final (a repeated report of the same
    /// state is accepted by the caller as a no-op, see [`Transition`]).
    pub fn may_become(self, to: DeviceState) -> bool {
        if self.is_terminal() || to == DeviceState::Pending {
            return false;
        }
        // A device may skip states (a fast install reports `succeeded` only), and
        // may fail at any point after being notified; it may not go back.
        to > self || (to.is_terminal() && self != to)
    }
}

/// What a report does to a device's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Record the new state.
    Apply(DeviceState),
    /// Same state again (a retransmission): nothing to record.
    Repeat,
    /// Refused: the report would move the device backwards or out of a final state.
    Refuse,
}

/// Decide what a device's status report means for its stored state.
pub fn transition(current: DeviceState, reported: DeviceState) -> Transition {
    if current == reported {
        Transition::Repeat
    } else if current.may_become(reported) {
        Transition::Apply(reported)
    } else {
        Transition::Refuse
    }
}

/// One wave's size: a share of the selected devices (cumulative), or a fixed
/// number of devices (a canary).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveSpec {
    /// Up to this percentage of all selected devices, counting earlier waves.
    Percent(f64),
    /// This many more devices.
    Count(u32),
}

impl WaveSpec {
    /// Parse `10%`, `100%` or `5` (a count).
    pub fn parse(s: &str) -> Result<WaveSpec, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("wave `{s}`: `{p}` is not a number"))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("wave `{s}`: a percentage must be in (0, 100]"));
            }
            Ok(WaveSpec::Percent(v))
        } else {
            let n: u32 = s.parse().map_err(|_| {
                format!("wave `{s}`: write a percentage (`10%`) or a device count (`5`)")
            })?;
            if n == 0 {
                return Err(format!("wave `{s}`: a count must be at least 1"));
            }
            Ok(WaveSpec::Count(n))
        }
    }

    /// Parse a comma-separated list, e.g. `5,10%,50%,100%`.
    pub fn parse_list(s: &str) -> Result<Vec<WaveSpec>, String> {
        let waves = s
            .split(',')
            .map(WaveSpec::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if waves.is_empty() {
            return Err("at least one wave is needed".into());
        }
        Ok(waves)
    }
}

/// Split `n` selected devices into waves: the wave index of each device, in the
/// given order. Every device gets a wave: a last wave takes any devices the specs
/// leave over (as if `100%` ended the list). Empty waves are dropped, so every
/// returned wave holds at least one device.
pub fn plan_waves(n: usize, specs: &[WaveSpec]) -> Vec<usize> {
    let mut bounds = Vec::new();
    let mut done = 0usize;
    for spec in specs {
        let target = match *spec {
            WaveSpec::Percent(p) => ((n as f64) * p / 100.0).ceil() as usize,
            WaveSpec::Count(c) => done.saturating_add(c as usize),
        }
        .min(n);
        if target > done {
            bounds.push(target);
            done = target;
        }
    }
    if done < n {
        bounds.push(n);
    }
    let mut out = Vec::with_capacity(n);
    let mut wave = 0;
    for i in 0..n {
        while i >= bounds[wave] {
            wave += 1;
        }
        out.push(wave);
    }
    out
}

/// A campaign's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Running,
    Paused,
    /// Stopped by the halt rule; an operator may resume it.
    Halted,
    Aborted,
    Completed,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Halted => "halted",
            CampaignState::Aborted => "aborted",
            CampaignState::Completed => "completed",
        }
    }
    pub fn parse(s: &str) -> Option<CampaignState> {
        [
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Halted,
            CampaignState::Aborted,
            CampaignState::Completed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
    pub fn is_final(self) -> bool {
        matches!(self, CampaignState::Aborted | CampaignState::Completed)
    }
}

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Abort,
}

/// Apply an operator's command; `Err` says why it does not apply.
pub fn control(state: CampaignState, c: Control) -> Result<CampaignState, String> {
    use CampaignState as S;
    match (state, c) {
        (s, _) if s.is_final() => Err(format!("the campaign is {} already", s.as_str())),
        (S::Running, Control::Pause) => Ok(S::Paused),
        (S::Paused | S::Halted, Control::Resume) => Ok(S::Running),
        (_, Control::Abort) => Ok(S::Aborted),
        (s, Control::Pause) => Err(format!("the campaign is {}, not running", s.as_str())),
        (s, Control::Resume) => Err(format!(
            "the campaign is {}: only a paused or halted campaign resumes",
            s.as_str()
        )),
    }
}

/// Per-state device counts of one wave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WaveCounts {
    pub total: usize,
    pub pending: usize,
    pub notified: usize,
    pub downloading: usize,
    pub installing: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub rolled_back: usize,
}

impl WaveCounts {
    pub fn add(&mut self, s: DeviceState) {
        self.total += 1;
        *match s {
            DeviceState::Pending => &mut self.pending,
            DeviceState::Notified => &mut self.notified,
            DeviceState::Downloading => &mut self.downloading,
            DeviceState::Installing => &mut self.installing,
            DeviceState::Succeeded => &mut self.succeeded,
            DeviceState::Failed => &mut self.failed,
            DeviceState::RolledBack => &mut self.rolled_back,
        } += 1;
    }
    pub fn failures(&self) -> usize {
        self.failed + self.rolled_back
    }
    pub fn finished(&self) -> usize {
        self.succeeded + self.failures()
    }
    pub fn is_done(&self) -> bool {
        self.finished() == self.total
    }
}

/// What the campaign needs to decide its next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub state: CampaignState,
    /// The highest wave started so far (`None`: none yet).
    pub current_wave: Option<usize>,
    /// Counts per wave, index = wave.
    pub waves: Vec<WaveCounts>,
    /// Halt when a wave's failures exceed this share of the wave (0.0..=1.0).
    pub failure_threshold: f64,
    /// Waves up to this one had their failures accepted by an operator who
    /// resumed the halted campaign: they halt it no more.
    pub accepted_through: Option<usize>,
}

/// The next thing to do, as the service must persist and then carry out.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing now (paused, halted, final, or a wave still running).
    Wait,
    /// Start this wave: mark its pending devices notified, then notify them.
    StartWave(usize),
    /// The halt rule fired in this wave.
    Halt {
        wave: usize,
        failures: usize,
        total: usize,
    },
    /// Every wave is done and no halt fired.
    Complete,
}

impl Campaign {
    /// Whether the failures of a wave pass the threshold. Judged as soon as the
    /// failures alone pass it, without waiting for the rest of the wave.
    pub fn wave_fails(&self, w: &WaveCounts) -> bool {
        w.total > 0 && (w.failures() as f64) > self.failure_threshold * (w.total as f64)
    }

    /// Decide the next step. Pure: the same stored state gives the same step,
    /// which is what makes a restart resume exactly where it stopped.
    pub fn step(&self) -> Step {
        if self.state != CampaignState::Running {
            return Step::Wait;
        }
        let Some(current) = self.current_wave else {
            return if self.waves.is_empty() {
                Step::Complete
            } else {
                Step::StartWave(0)
            };
        };
        let Some(w) = self.waves.get(current) else {
            return Step::Complete;
        };
        let accepted = self.accepted_through.is_some_and(|a| current <= a);
        if self.wave_fails(w) && !accepted {
            return Step::Halt {
                wave: current,
                failures: w.failures(),
                total: w.total,
            };
        }
        if !w.is_done() {
            return Step::Wait;
        }
        if current + 1 < self.waves.len() {
            Step::StartWave(current + 1)
        } else {
            Step::Complete
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: usize, succeeded: usize, failed: usize) -> WaveCounts {
        let mut w = WaveCounts::default();
        for _ in 0..succeeded {
            w.add(DeviceState::Succeeded);
        }
        for _ in 0..failed {
            w.add(DeviceState::Failed);
        }
        for _ in succeeded + failed..total {
            w.add(DeviceState::Notified);
        }
        w
    }

    #[test]
    fn waves_of_percentages_and_a_canary() {
        let specs = WaveSpec::parse_list("1%,10%,50%,100%").unwrap();
        let plan = plan_waves(200, &specs);
        let sizes: Vec<usize> = (0..4)
            .map(|w| plan.iter().filter(|x| **x == w).count())
            .collect();
        assert_eq!(sizes, vec![2, 18, 80, 100]);

        let specs = WaveSpec::parse_list("5,50%").unwrap();
        let plan = plan_waves(10, &specs);
        let sizes: Vec<usize> = (0..2)
            .map(|w| plan.iter().filter(|x| **x == w).count())
            .collect();
        assert_eq!(sizes, vec![5, 5]);
    }

    #[test]
    fn leftover_devices_get_a_last_wave_and_empty_waves_vanish() {
        // 1% of 3 devices is one device; 10% of 3 is also one: that wave is empty.
        let plan = plan_waves(3, &[WaveSpec::Percent(1.0), WaveSpec::Percent(10.0)]);
        assert_eq!(plan, vec![0, 1, 1]);
        assert!(plan_waves(0, &[WaveSpec::Percent(100.0)]).is_empty());
    }

    #[test]
    fn bad_wave_specs_are_named() {
        assert!(WaveSpec::parse("0%").unwrap_err().contains("0%"));
        assert!(WaveSpec::parse("150%").is_err());
        assert!(WaveSpec::parse("x").unwrap_err().contains("`x`"));
        assert!(WaveSpec::parse("0").is_err());
    }

    #[test]
    fn states_move_forward_only() {
        use DeviceState::*;
        assert_eq!(
            transition(Notified, Downloading),
            Transition::Apply(Downloading)
        );
        assert_eq!(
            transition(Notified, Succeeded),
            Transition::Apply(Succeeded)
        );
        assert_eq!(transition(Installing, Downloading), Transition::Refuse);
        assert_eq!(transition(Succeeded, Failed), Transition::Refuse);
        assert_eq!(transition(Succeeded, Succeeded), Transition::Repeat);
        assert_eq!(
            transition(Installing, RolledBack),
            Transition::Apply(RolledBack)
        );
        assert_eq!(transition(Notified, Pending), Transition::Refuse);
    }

    #[test]
    fn runs_wave_by_wave_and_completes() {
        let mut c = Campaign {
            state: CampaignState::Running,
            current_wave: None,
            waves: vec![counts(2, 0, 0), counts(8, 0, 0)],
            failure_threshold: 0.2,
            accepted_through: None,
        };
        assert_eq!(c.step(), Step::StartWave(0));
        c.current_wave = Some(0);
        assert_eq!(c.step(), Step::Wait);
        c.waves[0] = counts(2, 2, 0);
        assert_eq!(c.step(), Step::StartWave(1));
        c.current_wave = Some(1);
        c.waves[1] = counts(8, 7, 1);
        assert_eq!(c.step(), Step::Complete);
    }

    #[test]
    fn halts_as_soon_as_failures_pass_the_threshold() {
        let c = Campaign {
            state: CampaignState::Running,
            current_wave: Some(0),
            waves: vec![counts(10, 1, 3), counts(10, 0, 0)],
            failure_threshold: 0.2,
            accepted_through: None,
        };
        assert_eq!(
            c.step(),
            Step::Halt {
                wave: 0,
                failures: 3,
                total: 10
            }
        );
        // At the threshold exactly: no halt.
        let c = Campaign {
            waves: vec![counts(10, 8, 2), counts(10, 0, 0)],
            ..c
        };
        assert_eq!(c.step(), Step::StartWave(1));
    }

    #[test]
    fn paused_and_final_campaigns_wait_and_controls_are_checked() {
        let c = Campaign {
            state: CampaignState::Paused,
            current_wave: Some(0),
            waves: vec![counts(1, 1, 0), counts(1, 0, 0)],
            failure_threshold: 0.0,
            accepted_through: None,
        };
        assert_eq!(c.step(), Step::Wait);
        assert_eq!(
            control(CampaignState::Running, Control::Pause),
            Ok(CampaignState::Paused)
        );
        assert_eq!(
            control(CampaignState::Halted, Control::Resume),
            Ok(CampaignState::Running)
        );
        assert!(control(CampaignState::Completed, Control::Abort).is_err());
        assert!(control(CampaignState::Running, Control::Resume).is_err());
    }

    #[test]
    fn a_resumed_halted_campaign_moves_past_the_failed_wave() {
        let c = Campaign {
            state: CampaignState::Running,
            current_wave: Some(0),
            waves: vec![counts(4, 1, 3), counts(4, 0, 0)],
            failure_threshold: 0.1,
            accepted_through: None,
        };
        assert!(matches!(c.step(), Step::Halt { .. }));
        let c = Campaign {
            accepted_through: Some(0),
            ..c
        };
        assert_eq!(c.step(), Step::StartWave(1));
        let c = Campaign {
            waves: vec![counts(5, 1, 3), counts(4, 0, 0)],
            ..c
        };
        assert_eq!(c.step(), Step::Wait, "the accepted wave is not done yet");
    }
}
