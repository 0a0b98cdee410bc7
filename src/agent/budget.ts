import { BudgetExceededError } from '../errors.js';

export interface BudgetLimits {
  maxIterations: number;
  maxModelCalls: number;
}

export class BudgetExhausted extends BudgetExceededError {
  constructor(
    readonly budgetType: 'iterations' | 'model_calls',
    readonly limit: number,
  ) {
    super(`${budgetType} budget exhausted (limit ${limit})`);
  }
}

/** Checked BEFORE each step / model call, so a run never exceeds its limits. */
export class ExecutionBudget {
  private iterations = 0;
  private modelCalls = 0;

  constructor(private readonly limits: BudgetLimits) {}

  beforeIteration(): void {
    if (this.iterations >= this.limits.maxIterations) throw new BudgetExhausted('iterations', this.limits.maxIterations);
    this.iterations += 1;
  }

  beforeModelCall(): void {
    if (this.modelCalls >= this.limits.maxModelCalls) throw new BudgetExhausted('model_calls', this.limits.maxModelCalls);
    this.modelCalls += 1;
  }
}
