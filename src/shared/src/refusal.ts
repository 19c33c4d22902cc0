/**
 * An error that is an answer, not a fault: a request refused for what it asked (a missing key,
 * a failed condition, a malformed body or head). It is thrown to unwind to where the answer is
 * made, and nobody reads where it was thrown from, so it is made without a stack trace: V8
 * captures one in every Error's constructor, and on Node.js 20 here that was 8-14 µs an error,
 * more than the rest of a 404 cost kv_store (docs/performance.md, "Refusals without a stack
 * trace"). A fault (a bug, a failed disk) is any other Error and keeps its stack.
 */
export class Refusal extends Error {
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}
