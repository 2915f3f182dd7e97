//! Video timestamps on the frame-rate grid of the recording clock.
//!
//! Frames used to be stamped with the instant they arrived. On a busy machine a capture thread
//! that was starved hands over several frames at once, a few microseconds apart; their
//! millisecond stamps then differ by less than a frame period, and every tool that reads the
//! slice at its nominal rate (1/fps ticks) sees two frames on one tick:
//! `ffmpeg -i slice.flv -f null -` fails with "non monotonically increasing dts ... 430 >= 430".
//! So each frame goes into a slot of the grid, slot n at n x 1000 / fps ms, and no slot holds two
//! frames: timestamps are strictly increasing and at least one frame period apart, whatever the
//! load and whatever a capture thread reports.

/// The slots of one recording; slots only ever go forward.
#[derive(Debug, Clone)]
pub struct FrameGrid {
    fps: i64,
    last: Option<i64>,
}

impl FrameGrid {
    pub fn new(fps: u32) -> FrameGrid {
        FrameGrid {
            fps: fps.max(1) as i64,
            last: None,
        }
    }

    /// The slot for a frame captured at recording time `ms`, or None when it must be dropped.
    /// Its own slot is `round(ms x fps / 1000)`. When that one is taken (a burst, or a clock that
    /// stepped back) the frame moves to the slot after the last one, but only if that slot is at
    /// most one frame period ahead of the clock: a burst never pushes video ahead of audio by
    /// more than a frame, and a step back never yields an earlier timestamp.
    pub fn place(&mut self, ms: i64) -> Option<i64> {
        let ms = ms.max(0);
        // round(ms * fps / 1000), half up, in integers
        let own = (ms * self.fps * 2 + 1000) / 2000;
        let slot = match self.last {
            Some(last) if own <= last => {
                let next = last + 1;
                // next * 1000 / fps - ms <= 1000 / fps, without rounding
                if next * 1000 - ms * self.fps > 1000 {
                    return None;
                }
                next
            }
            _ => own,
        };
        self.last = Some(slot);
        Some(slot)
    }

    /// A slot's time in ms, rounded to the nearest millisecond (what FLV can store). Rounded
    /// slots read back at 1/fps land on their own tick again, so distinct slots stay distinct.
    pub fn ms(&self, slot: i64) -> i64 {
        (slot * 2000 + self.fps) / (2 * self.fps)
    }
}

#[cfg(test)]
mod tests {
    use super::FrameGrid;

    fn placed(fps: u32, arrivals: &[i64]) -> Vec<Option<i64>> {
        let mut g = FrameGrid::new(fps);
        arrivals.iter().map(|ms| g.place(*ms).map(|s| g.ms(s))).collect()
    }

    #[test]
    fn regular_frames_keep_their_own_slot() {
        assert_eq!(
            placed(15, &[0, 67, 134, 199, 268]),
            vec![Some(0), Some(67), Some(133), Some(200), Some(267)]
        );
    }

    #[test]
    fn frames_sharing_a_millisecond_take_the_next_slot_or_are_dropped() {
        // 10 fps: the second frame at 500 ms may go to 600 (a frame ahead); a third may not.
        assert_eq!(
            placed(10, &[400, 500, 500, 500, 600, 700]),
            vec![Some(400), Some(500), Some(600), None, Some(700), Some(800)]
        );
    }

    #[test]
    fn a_burst_one_millisecond_apart_never_runs_ahead_of_the_clock_by_more_than_a_frame() {
        let out = placed(15, &[1000, 1001, 1002, 1003, 1004, 1100, 1200]);
        let kept: Vec<i64> = out.iter().flatten().copied().collect();
        assert_eq!(kept, vec![1000, 1067, 1133, 1200]);
        assert!(kept.windows(2).all(|w| w[1] - w[0] >= 66), "{kept:?}");
    }

    #[test]
    fn a_clock_step_backwards_never_gives_a_smaller_timestamp() {
        let out = placed(10, &[1000, 1100, 1200, 700, 1150, 1300, 1400]);
        assert_eq!(
            out,
            vec![Some(1000), Some(1100), Some(1200), None, None, Some(1300), Some(1400)]
        );
    }

    #[test]
    fn rounded_slots_read_back_at_the_frame_rate_land_on_distinct_ticks() {
        for fps in [1u32, 7, 10, 15, 24, 25, 29, 30, 60] {
            let g = FrameGrid::new(fps);
            for slot in 0..10_000i64 {
                let tick = (g.ms(slot) as f64 * fps as f64 / 1000.0).round() as i64;
                assert_eq!(tick, slot, "fps {fps} slot {slot}");
            }
        }
    }
}
