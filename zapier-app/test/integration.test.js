/* eslint-env jest */
'use strict';

// Against a running Chorus. Runs only when CHORUS_BASE_URL and CHORUS_API_TOKEN are
// set (run-integration.sh starts a throwaway Chorus and sets them); skipped otherwise.
//
// CHORUS_IT_TARGET_URL: the https URL to subscribe (default a Zapier-looking one; it
// is never called here). CHORUS_IT_EXPECT_ITEMS=1: the org has at least one brief
// with action items (run-integration.sh seeds one), so the lists must not be empty.

const zapier = require('zapier-platform-core');
const App = require('../index');

const BASE = (process.env.CHORUS_BASE_URL || '').replace(/\/+$/, '');
const TOKEN = process.env.CHORUS_API_TOKEN || '';
const EXPECT_ITEMS = process.env.CHORUS_IT_EXPECT_ITEMS === '1';
const run = BASE && TOKEN ? describe : describe.skip;

const appTester = zapier.createAppTester(App);
const authData = { api_token: TOKEN, base_url: BASE };
const MEETING_KEYS = [
  'id', 'engagement_id', 'title', 'started_at', 'duration_minutes', 'recording_url',
  'owner_email', 'owner_name', 'account_name',
];

run(`integration against ${BASE || '(CHORUS_BASE_URL unset)'}`, () => {
  it('tests the connection (GET me/) and labels it', async () => {
    const me = await appTester(App.authentication.test, { authData });
    expect(me).toEqual({
      id: expect.any(Number),
      email: expect.stringContaining('@'),
      name: expect.any(String),
      organization: expect.any(String),
    });
  });

  it('refuses a wrong token with a helpful message', async () => {
    await expect(
      appTester(App.authentication.test, { authData: { ...authData, api_token: 'not-a-token' } })
    ).rejects.toThrow(/Personal Settings > API Tokens/);
  });

  describe.each([
    ['new_brief', 'brief'],
    ['new_action_items', 'action item'],
  ])('%s', (key) => {
    const op = App.triggers[key].operation;
    const targetUrl =
      (process.env.CHORUS_IT_TARGET_URL ||
        'https://hooks.zapier.com/hooks/standard/123/abc/') + `${key}-${Date.now()}/`;

    it('subscribes, then unsubscribes (and a second unsubscribe is harmless)', async () => {
      const hook = await appTester(op.performSubscribe, { authData, targetUrl });
      expect(hook).toEqual({ id: expect.any(Number), event: key, target_url: targetUrl });

      const again = await appTester(op.performSubscribe, { authData, targetUrl });
      expect(again.id).toBe(hook.id); // the same Zap subscribed twice: one hook

      const bundle = { authData, targetUrl, subscribeData: hook };
      await expect(appTester(op.performUnsubscribe, bundle)).resolves.toEqual({});

      // really gone: Chorus now answers 404 for it ...
      const raw = await fetch(`${BASE}/api/v1/zapier/hooks/${hook.id}/`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(raw.status).toBe(404);
      // ... which the app treats as already unsubscribed
      await expect(appTester(op.performUnsubscribe, bundle)).resolves.toEqual({});
    });

    it('lists items (the polling fallback / Zap editor samples)', async () => {
      const items = await appTester(op.performList, { authData });
      expect(Array.isArray(items)).toBe(true);
      if (EXPECT_ITEMS) expect(items.length).toBeGreaterThan(0);
      const extra =
        key === 'new_brief'
          ? ['meeting_summary', 'action_items', 'action_items_text']
          : ['text', 'speaker'];
      for (const item of items) {
        expect(typeof item.id).toBe('string');
        for (const k of [...MEETING_KEYS, ...extra]) expect(item).toHaveProperty(k);
        expect(item.duration_minutes).toBeGreaterThanOrEqual(10); // no brief under 10 minutes
      }
      // the declared output fields are what Chorus sends
      const sent = new Set(Object.keys(items[0] || op.sample));
      for (const f of op.outputFields) expect(sent.has(f.key.split('[]')[0])).toBe(true);
    });
  });
});
