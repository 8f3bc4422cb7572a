// The product catalog of the example: one credit currency, two plans.
export const CATALOG = {
  currencies: [{ id: "ai-tokens", displayName: "AI tokens" }],
  plans: [
    {
      id: "plan-basic",
      credits: [{ currencyId: "ai-tokens", amount: 1000, cadence: "MONTH" }],
      creditRates: [
        { featureId: "feature-ai-tokens", currencyId: "ai-tokens", amount: 1 },
        { featureId: "feature-images", currencyId: "ai-tokens", amount: 25 },
        { featureId: "feature-chat", currencyId: "ai-tokens", costFormula: "1.1*input_tokens + 1.5*output_tokens" },
      ],
    },
    {
      id: "plan-pro",
      credits: [{ currencyId: "ai-tokens", amount: 10000, cadence: "MONTH", hasSoftLimit: true }],
      creditRates: [
        { featureId: "feature-ai-tokens", currencyId: "ai-tokens", amount: 0.8 },
        { featureId: "feature-images", currencyId: "ai-tokens", amount: 20 },
      ],
    },
  ],
};
