/** A source of the current time in milliseconds since the epoch; tests inject a fake one. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };
