/** A step's answer did not hold: the test stops there and is reported as failed. */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';

  constructor(
    readonly step: string,
    readonly problems: readonly string[],
  ) {
    super(`step '${step}' did not hold: ${problems.join('; ')}`);
  }
}
