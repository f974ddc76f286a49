// A tenant's plans: stored with the tenant (the tenant_plan enum in prisma/), and what the edge's rate limits key on.
import { Type } from 'typebox'

export const PLANS = ['free', 'pro', 'enterprise'] as const
export type Plan = (typeof PLANS)[number]

export const PlanSchema = Type.Enum([...PLANS])

export const isPlan = (value: string): value is Plan => (PLANS as readonly string[]).includes(value)
