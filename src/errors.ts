/**
 * Errors a caller can act on. Each carries the HTTP status and the stable
 * machine-readable code the central error handler sends back.
 */
export abstract class ServiceError extends Error {
  abstract readonly code: string;
  abstract readonly httpStatus: number;
  /** Recorded as `error.type` on spans; stable across message changes. */
  get errorType(): string {
    return this.name;
  }
  /** Extra, safe-to-show fields for the error body. */
  details(): Record<string, unknown> {
    return {};
  }
}

export class PromptUnavailableError extends ServiceError {
  override name = 'PromptUnavailableError';
  readonly code = 'prompt_unavailable';
  readonly httpStatus = 503;
  constructor(
    message: string,
    readonly label: string,
    readonly causeType: string,
  ) {
    super(message);
  }
  override details() {
    return { label: this.label };
  }
}

export class PromptVariablesMismatchError extends ServiceError {
  override name = 'PromptVariablesMismatchError';
  readonly code = 'prompt_variables_mismatch';
  readonly httpStatus = 500;
  constructor(
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly promptVersion: number,
  ) {
    super(
      `prompt version ${promptVersion} does not match the variable contract` +
        (missing.length ? `; context lacks: ${missing.join(', ')}` : '') +
        (unexpected.length ? `; template lacks: ${unexpected.join(', ')}` : ''),
    );
  }
}

/** The model could not answer after retries. */
export class ModelCallError extends ServiceError {
  override name = 'ModelCallError';
  constructor(
    message: string,
    readonly code: 'model_unavailable' | 'model_timeout' | 'model_error' | 'model_rate_limited',
    readonly httpStatus: 502 | 503 | 504,
    readonly causeType: string,
  ) {
    super(message);
  }
  override get errorType(): string {
    return this.causeType;
  }
}

/** The run hit its execution budget (model calls or graph steps). */
export class BudgetExceededError extends ServiceError {
  override name = 'BudgetExceededError';
  readonly code = 'budget_exceeded';
  readonly httpStatus = 503;
}

/**
 * The caller went away (a streaming client disconnected) and the run was stopped on purpose.
 * Not a failure of the service: no error status on spans, no error log, no response.
 */
export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
  constructor(message = 'the client disconnected; the run was cancelled') {
    super(message);
  }
}
