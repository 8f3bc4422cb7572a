/** Epoch milliseconds, an ISO-8601 string, or a `Date`. */
export type DateInput = number | string | Date;

/** A credit amount: a number (read to the nearest 1e-6) or an exact decimal string such as `"0.1"`. */
export type AmountInput = number | string;

/**
 * The host's key-value store. Every method may return its result directly or
 * as a Promise: a `Map` wrapper, Durable Object storage and Workers KV all fit.
 * Values are strings written by this library; a missing key is `null` or `undefined`.
 */
export interface CreditPoolsKv {
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  put(key: string, value: string): unknown | Promise<unknown>;
  delete?(key: string): unknown | Promise<unknown>;
}

export interface CurrencyDefinition {
  id: string;
  displayName?: string;
}

export interface PlanCreditDefinition {
  currencyId: string;
  /** Credits granted per billing period (no rollover). */
  amount: AmountInput;
  cadence: "MONTH" | "YEAR";
  /** With a soft limit, entitlement checks allow usage past zero. */
  hasSoftLimit?: boolean;
}

export interface CreditRateDefinition {
  featureId: string;
  currencyId: string;
  /** Credits that one unit of the feature costs on this plan. */
  amount: AmountInput;
}

export interface PlanDefinition {
  id: string;
  credits?: PlanCreditDefinition[];
  creditRates?: CreditRateDefinition[];
}

export interface Catalog {
  currencies: CurrencyDefinition[];
  plans?: PlanDefinition[];
}

export interface CreditLedgerOptions {
  kv: CreditPoolsKv;
  catalog: Catalog;
  /** The clock, in epoch milliseconds (or a `Date`). Defaults to `Date.now`. */
  now?: () => number | Date;
  /** Namespace for every key this ledger writes: 1–64 characters of `A-Z a-z 0-9 _ . : -`. Default `"credit-pools"`. */
  keyPrefix?: string;
}

export type GrantType = "PAID" | "PROMOTIONAL" | "RECURRING" | "OVERDRAFT";
export type GrantStatus = "SCHEDULED" | "ACTIVE" | "EXPIRED" | "VOIDED";
export type CreditLedgerEventType =
  | "CREDITS_GRANTED"
  | "CREDITS_CONSUMED"
  | "CREDITS_EXPIRED"
  | "CREDITS_VOIDED"
  | "CREDITS_CONSUMPTION_TRANSFER_SOURCE"
  | "CREDITS_CONSUMPTION_TRANSFER_TARGET";

/** Stable codes carried by every rejection's `code` property. */
export type CreditPoolsErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "IDEMPOTENCY_CONFLICT"
  | "LIMIT_EXCEEDED"
  | "INVALID_STATE"
  | "STORE_ERROR"
  | "CORRUPT_STATE";

/** What every method rejects with. */
export interface CreditPoolsError extends Error {
  name: "CreditPoolsError";
  code: CreditPoolsErrorCode;
}

export interface ProvisionSubscriptionInput {
  customerId: string;
  planId: string;
  /** The resource (workspace, member, API key) whose isolated pool this subscription funds. */
  resourceId?: string | null;
  /** Anchors the billing periods. Defaults to now. */
  startDate?: DateInput;
}

export interface Subscription {
  id: string;
  customerId: string;
  planId: string;
  resourceId: string | null;
  status: "ACTIVE" | "NOT_STARTED";
  startDate: string;
}

export interface ProvisionSubscriptionResult {
  id: string;
  status: "SUCCESS";
  subscription: Subscription;
}

export interface GrantCreditsInput {
  customerId: string;
  resourceId?: string | null;
  /** The credit currency. `creditTypeId` is accepted as another name for it. */
  currencyId?: string;
  creditTypeId?: string;
  amount: AmountInput;
  displayName?: string;
  grantType?: "PAID" | "PROMOTIONAL";
  /** Lower is burned first; default 0. */
  priority?: number;
  effectiveAt?: DateInput;
  expireAt?: DateInput;
  comment?: string;
  metadata?: Record<string, string>;
  idempotencyKey?: string;
}

export interface CreditGrant {
  id: string;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  amount: number;
  consumedAmount: number;
  grantType: GrantType;
  status: GrantStatus;
  priority: number;
  effectiveAt: string;
  expireAt: string | null;
  createdAt: string;
  voidedAt: string | null;
  displayName: string | null;
  comment: string | null;
  metadata: Record<string, string> | null;
  subscriptionId: string | null;
}

export interface ReportUsageInput {
  customerId: string;
  resourceId?: string | null;
  featureId: string;
  /** Units of the feature; must be greater than 0. */
  value: AmountInput;
  /** A repeat with the same key is applied once and answers `consumed: 0`. */
  idempotencyKey?: string;
  createdAt?: DateInput;
}

export interface CreditUsage {
  currencyId: string;
  /** Credits this call took (0 for an idempotent repeat). */
  consumed: number;
  /** Credits consumed from the pool so far. */
  currentUsage: number;
  /** Credits granted to the pool so far. */
  usageLimit: number;
  currentBalance: number;
  timestamp: string;
}

export interface ReportUsageResult {
  customerId: string;
  resourceId: string | null;
  featureId: string;
  credit: CreditUsage;
}

export interface ConsumeCreditsInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
  amount: AmountInput;
  idempotencyKey: string;
  createdAt?: DateInput;
}

export interface ConsumeCreditsResult {
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  /** Credits this call took (0 for an idempotent repeat). */
  amount: number;
  timestamp: string;
  credit: CreditUsage;
}

export interface GetCreditBalanceInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
}

export interface CreditBalance {
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  currentBalance: number;
  totalGranted: number;
  totalConsumed: number;
  totalExpired: number;
  totalVoided: number;
}

export interface GetCreditLedgerInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  eventType?: CreditLedgerEventType[];
  /** 1–1000, default 100. */
  limit?: number;
  cursor?: string;
  /** Default `"DESC"` (newest first). */
  order?: "ASC" | "DESC";
}

export interface CreditLedgerEvent {
  /** Position in the scope's append-only ledger. */
  seq: number;
  eventType: CreditLedgerEventType;
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  amount: number;
  creditGrantId: string;
  featureId: string | null;
  eventId: string | null;
  timestamp: string;
}

export interface CreditLedgerPage {
  events: CreditLedgerEvent[];
  nextCursor: string | null;
}

export interface GetCreditGrantsInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  limit?: number;
  cursor?: string;
}

export interface CreditGrantsPage {
  grants: CreditGrant[];
  nextCursor: string | null;
}

export interface VoidCreditGrantInput {
  /** The grant's id, as returned by `grantCredits` or listed by `getCreditGrants`. */
  id: string;
}

export interface GetCreditEntitlementInput {
  customerId: string;
  resourceId?: string | null;
  currencyId?: string;
  creditTypeId?: string;
  /** Credits about to be used; `hasAccess` needs the balance to cover them. Default 0 (then the balance must be > 0). */
  requestedUsage?: AmountInput;
}

export interface CreditEntitlement {
  customerId: string;
  resourceId: string | null;
  currencyId: string;
  hasAccess: boolean;
  accessDeniedReason: "InsufficientCredits" | null;
  requestedUsage: number;
  /** Credits granted to the pool so far. */
  usageLimit: number;
  /** Credits consumed from the pool so far. */
  currentUsage: number;
  currentBalance: number;
  /** From the subscription's plan credit for this currency: access even at or below zero. */
  hasSoftLimit: boolean;
  /** End of the subscription's current credit period for this currency, if it has one. */
  usagePeriodEnd: string | null;
}

export interface EstimateUsageCostInput {
  customerId: string;
  resourceId?: string | null;
  featureId: string;
  value: AmountInput;
}

export interface CostEstimate {
  currencyId: string;
  estimatedCost: number;
  currentBalance: number;
  balanceAfterEstimate: number;
  wouldOverdraft: boolean;
}

export interface UsageCostEstimation {
  customerId: string;
  resourceId: string | null;
  featureId: string;
  estimates: CostEstimate[];
}

export interface BuildInfo {
  name: string;
  version: string;
}
