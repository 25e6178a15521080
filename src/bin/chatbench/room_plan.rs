//! Which rooms each client of a run is in: `rooms` rooms whose sizes ramp evenly from small to
//! large, and every client in exactly `per_client` distinct rooms. Pure arithmetic, shared by
//! every thread; joining and sending are the worker's.
//!
//! The memberships are `clients × per_client` slots dealt in order: room 0 takes the first
//! `size(0)` slots, room 1 the next, and slot `s` goes to client `s % clients`. So a room's
//! members are consecutive clients (wrapping), distinct while no room is larger than the run,
//! and client `c`'s `k`-th room is the one holding slot `c + k × clients`.

/// The rooms of a run and who is in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPlan {
    clients: usize,
    per_client: usize,
    /// `starts[r]` is room `r`'s first slot; one more entry closes the last room.
    starts: Vec<usize>,
}

impl RoomPlan {
    /// `rooms` rooms for `clients` clients each in `per_client` of them. Sizes ramp linearly
    /// from `min(10, mean)` to about twice the mean less that (so a mean of 55 gives 10 to 100);
    /// when that top would exceed the run, all rooms are the mean's size (`rooms = per_client`:
    /// everyone in every room). Errors when a room would be empty or larger than the run.
    pub fn new(clients: usize, rooms: usize, per_client: usize) -> Result<RoomPlan, String> {
        let slots = clients * per_client;
        if rooms == 0 || per_client == 0 || rooms > slots {
            return Err(format!(
                "{rooms} rooms cannot hold {clients} clients × {per_client} rooms each"
            ));
        }
        let mean = slots as f64 / rooms as f64;
        let (low, high) = if 2.0 * mean - mean.min(10.0) <= clients as f64 {
            (mean.min(10.0), 2.0 * mean - mean.min(10.0))
        } else {
            (mean, mean)
        };
        let weight = |r: usize| {
            if rooms == 1 {
                mean
            } else {
                low + (high - low) * r as f64 / (rooms - 1) as f64
            }
        };
        let total: f64 = (0..rooms).map(weight).sum();
        let mut starts = Vec::with_capacity(rooms + 1);
        let mut cumulative = 0.0;
        for r in 0..rooms {
            starts.push((cumulative * slots as f64 / total).round() as usize);
            cumulative += weight(r);
        }
        starts.push(slots);
        let plan = RoomPlan {
            clients,
            per_client,
            starts,
        };
        let (smallest, largest) = plan.size_range();
        if smallest == 0 || largest > clients {
            return Err(format!(
                "{rooms} rooms for {clients} clients × {per_client}: sizes {smallest} to {largest} \
                 (each must be 1 to {clients})"
            ));
        }
        Ok(plan)
    }

    /// The one room everyone is in: the plan of the broadcast and paced modes.
    pub fn single(clients: usize) -> RoomPlan {
        RoomPlan {
            clients,
            per_client: 1,
            starts: vec![0, clients],
        }
    }

    /// No rooms: the clients of the replay and recover modes, which join later.
    pub fn none(clients: usize) -> RoomPlan {
        RoomPlan {
            clients,
            per_client: 0,
            starts: vec![0],
        }
    }

    pub fn rooms(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn per_client(&self) -> usize {
        self.per_client
    }

    /// Members of room `r`.
    pub fn size(&self, r: usize) -> usize {
        self.starts[r + 1] - self.starts[r]
    }

    /// The smallest and the largest room's member counts.
    pub fn size_range(&self) -> (usize, usize) {
        let sizes = (0..self.rooms()).map(|r| self.size(r));
        (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0))
    }

    /// Client `c`'s `k`-th room (`k < per_client`).
    pub fn room_of(&self, c: usize, k: usize) -> usize {
        let slot = c + k * self.clients;
        // `starts` is sorted and starts at 0, so the room is the last start at or before slot.
        self.starts.partition_point(|&s| s <= slot) - 1
    }

    /// Which of `c`'s rooms `r` is, if `c` is a member.
    pub fn position_in(&self, c: usize, r: usize) -> Option<usize> {
        (0..self.per_client).find(|&k| self.room_of(c, k) == r)
    }

    /// Members of room `r`, in slot order.
    pub fn members(&self, r: usize) -> impl Iterator<Item = usize> + '_ {
        (self.starts[r]..self.starts[r + 1]).map(|s| s % self.clients)
    }

    /// The room's name on the wire.
    pub fn name(r: usize) -> String {
        format!("#bench{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_is_in_k_distinct_rooms_and_the_sizes_add_up() {
        let plan = RoomPlan::new(1100, 100, 5).unwrap();
        let mut sizes = vec![0; plan.rooms()];
        for c in 0..1100 {
            let mut rooms: Vec<usize> = (0..5).map(|k| plan.room_of(c, k)).collect();
            for &r in &rooms {
                sizes[r] += 1;
                assert!(plan.members(r).any(|m| m == c), "{c} in room {r}");
            }
            rooms.sort_unstable();
            rooms.dedup();
            assert_eq!(rooms.len(), 5, "client {c} twice in a room");
        }
        for (r, &size) in sizes.iter().enumerate() {
            assert_eq!(size, plan.size(r));
        }
        assert_eq!(sizes.iter().sum::<usize>(), 5500);
    }

    #[test]
    fn sizes_ramp_from_ten_to_twice_the_mean_less_ten() {
        let plan = RoomPlan::new(11_000, 1000, 5).unwrap();
        let (low, high) = plan.size_range();
        assert!((10..=11).contains(&low), "{low}");
        assert!((99..=100).contains(&high), "{high}");
    }

    #[test]
    fn a_room_larger_than_the_run_is_refused() {
        assert!(RoomPlan::new(10, 1, 2).is_err());
        assert!(RoomPlan::new(10, 0, 1).is_err());
        assert!(RoomPlan::new(10, 21, 2).is_err());
    }

    #[test]
    fn k_rooms_for_everyone_put_every_client_in_each() {
        let plan = RoomPlan::new(7, 3, 3).unwrap();
        for c in 0..7 {
            let rooms: Vec<usize> = (0..3).map(|k| plan.room_of(c, k)).collect();
            assert_eq!(rooms, vec![0, 1, 2]);
            assert_eq!(plan.position_in(c, 2), Some(2));
        }
        assert_eq!(RoomPlan::single(7).room_of(6, 0), 0);
    }
}
