// MockAdapter.withApiKey: the test double of a tenant's own provider key (bring your own key).
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { modelAdapterConformance } from '../../src/testing/conformance.js';
import { MockAdapter } from '../../src/testing/mock-adapter.js';
import { drain, request, TENANT_KEY } from './_helpers.js';

describe('MockAdapter.withApiKey', () => {
  for (const check of modelAdapterConformance({ create: () => new MockAdapter({ ref: 'openai:gpt-5.2' }).withApiKey(TENANT_KEY) })) {
    it(`conformance of a copy: ${check.name}`, check.run);
  }

  it('records the calls of its copies in the original`s calls, each with the key it came with', async () => {
    const model = new MockAdapter({ ref: 'openai:gpt-5.2', reply: 'ok' });
    const tenant = model.withApiKey(TENANT_KEY);
    await tenant.generate(request);
    await model.generate(request);
    await drain(model.withApiKey('k-other').stream(request));
    expect(model.calls.map((call) => [call.method, call.apiKey])).toEqual([
      ['generate', TENANT_KEY],
      ['generate', undefined],
      ['stream', 'k-other'],
    ]);
    expect(model.calls[1]).not.toHaveProperty('apiKey');
    expect(tenant.calls).toBe(model.calls);
    expect(tenant.apiKey).toBe(TENANT_KEY);
    expect(model.apiKey).toBeUndefined();
  });

  it('is a MockAdapter with the same ref and info, sharing the script queue; reply functions see the key', async () => {
    const model = new MockAdapter({
      ref: 'anthropic:claude-opus-4-6',
      info: { outputPricePerMTok: 25 },
      script: ['first', 'second'],
      reply: (_request, { apiKey }) => (apiKey === 'k-revoked' ? { error: new Error('revoked key') } : `answered with ${apiKey ?? 'the shared key'}`),
    });
    const tenant = model.withApiKey(TENANT_KEY);
    expect(tenant).toBeInstanceOf(MockAdapter);
    expect(tenant).not.toBe(model);
    expect({ ref: tenant.ref, info: tenant.info }).toEqual({ ref: model.ref, info: model.info });
    expect((await tenant.generate(request)).text).toBe('first');
    expect((await model.generate(request)).text).toBe('second');
    expect((await tenant.generate(request)).text).toBe(`answered with ${TENANT_KEY}`);
    expect((await model.generate(request)).text).toBe('answered with the shared key');
    await expect(model.withApiKey('k-revoked').generate(request)).rejects.toThrow('revoked key');
    expect(tenant.withApiKey('k-again').calls).toBe(model.calls);
  });

  it('refuses a key that is not a non-empty string, naming apiKey', () => {
    const model = new MockAdapter({ ref: 'openai:gpt-5.2' });
    for (const bad of ['', '  ', undefined, 7]) {
      expect(() => model.withApiKey(bad as string)).toThrow(InvalidOptionError);
      try {
        model.withApiKey(bad as string);
      } catch (error) {
        expect(error).toMatchObject({ option: 'apiKey' });
      }
    }
  });

  it('keeps calls (and so the keys they carry) out of its JSON', async () => {
    const model = new MockAdapter({ ref: 'openai:gpt-5.2' });
    await model.withApiKey(TENANT_KEY).generate(request);
    expect(JSON.parse(JSON.stringify(model))).toEqual({ specificationVersion: 'v1', provider: 'openai', modelId: 'gpt-5.2', info: JSON.parse(JSON.stringify(model.info)) });
    expect(JSON.stringify(model.withApiKey(TENANT_KEY))).not.toContain(TENANT_KEY);
  });
});
