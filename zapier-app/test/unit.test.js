/* eslint-env jest */
'use strict';

// Every operation against a mocked Chorus (nock): the exact request (method, path,
// Bearer header, body) and what the app makes of the answer.

const nock = require('nock');
const zapier = require('zapier-platform-core');

const App = require('../index');
const { validateApp, prepareApp } = require('zapier-platform-core/src/tools/schema');

const appTester = zapier.createAppTester(App);

const BASE = 'https://chorus.example';
const TOKEN = 'chorus_pat_unit';
const TARGET = 'https://hooks.zapier.com/hooks/standard/123/abc/';
const authData = { api_token: TOKEN, base_url: BASE };

// The meeting fields both triggers' items carry.
const meeting = (id, accountName) => ({
  engagement_id: id,
  title: `Meeting ${id}`,
  started_at: '2026-03-02T15:00:00+00:00',
  duration_minutes: 30,
  recording_url: `${BASE}/recordings/${id}/`,
  owner_email: 'ann@acme.example',
  owner_name: 'Ann Example',
  account_name: accountName,
});

const briefItem = (id) => ({
  id: String(id),
  ...meeting(id, 'Initech'),
  meeting_summary: 'We need it by March.',
  action_items: [{ text: 'Send pricing', speaker: 'Ann Example' }],
  action_items_text: '• Send pricing (Ann Example)',
});

const actionItem = (id, i) => ({
  id: `${id}-${i}`,
  ...meeting(id, ''),
  text: 'Send pricing',
  speaker: 'Ann Example',
});

// A Chorus that only answers requests carrying exactly this token.
const chorus = (base = BASE) =>
  nock(base, { reqheaders: { authorization: `Bearer ${TOKEN}` } });

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]); // every expected request was made
});
afterAll(() => {
  nock.enableNetConnect();
  nock.restore(); // leave http alone for the integration tests
});

describe('the app definition', () => {
  it('passes the Zapier schema', () => {
    expect(validateApp(prepareApp(App))).toEqual([]);
  });

  it('has the Chorus fields and labels', () => {
    const [token, url] = App.authentication.fields;
    expect(App.authentication.type).toBe('custom');
    expect(token).toMatchObject({ key: 'api_token', label: 'API Token', required: true });
    expect(token.helpText).toMatch(/Settings > Personal Settings > API Tokens/);
    expect(url).toMatchObject({ key: 'base_url', required: false });
    expect(App.authentication.connectionLabel).toBe('{{email}} ({{organization}})');
    const brief = App.triggers.new_brief;
    expect(brief.display.label).toBe('New Post-Meeting Brief');
    expect(App.triggers.new_action_items.display.label).toBe('New Action Items');
    const labels = Object.fromEntries(brief.operation.outputFields.map((f) => [f.key, f.label]));
    expect(labels.meeting_summary).toBe('Meeting Summary');
    expect(labels.action_items_text).toBe('Action Items');
    for (const t of Object.values(App.triggers)) {
      expect(t.operation.type).toBe('hook');
      expect(t.operation.sample.id).toEqual(expect.any(String));
    }
  });
});

describe('authentication', () => {
  it('tests the connection with GET /api/v1/zapier/me/ and the Bearer token', async () => {
    const me = { id: 7, email: 'ann@acme.example', name: 'Ann Example', organization: 'Acme' };
    chorus().get('/api/v1/zapier/me/').reply(200, me);
    const result = await appTester(App.authentication.test, { authData });
    expect(result).toEqual(me);
  });

  it('uses CHORUS_BASE_URL, then production, when the connection has no URL', async () => {
    const me = { id: 7, email: 'a@b.c', name: 'A', organization: 'Acme' };
    const saved = process.env.CHORUS_BASE_URL;
    try {
      process.env.CHORUS_BASE_URL = 'https://staging.chorus.example/';
      chorus('https://staging.chorus.example').get('/api/v1/zapier/me/').reply(200, me);
      await appTester(App.authentication.test, { authData: { api_token: TOKEN } });
      delete process.env.CHORUS_BASE_URL;
      chorus('https://chorus.ai').get('/api/v1/zapier/me/').reply(200, me);
      await appTester(App.authentication.test, { authData: { api_token: TOKEN, base_url: '' } });
    } finally {
      if (saved === undefined) delete process.env.CHORUS_BASE_URL;
      else process.env.CHORUS_BASE_URL = saved;
    }
  });

  it('explains a refused token', async () => {
    chorus()
      .get('/api/v1/zapier/me/')
      .reply(401, { error: { code: 'not_authenticated', message: 'Invalid token.' } });
    await expect(appTester(App.authentication.test, { authData })).rejects.toThrow(
      /Personal Settings > API Tokens.*Invalid token/
    );
  });

  it('explains a non-Enterprise organization', async () => {
    const message = 'Zapier is available to organisations with the Chorus Enterprise package.';
    chorus().get('/api/v1/zapier/me/').reply(403, { error: { code: 'permission_denied', message } });
    await expect(appTester(App.authentication.test, { authData })).rejects.toThrow(message);
  });
});

describe.each([
  ['new_brief', 'briefs/', () => [briefItem(2), briefItem(1)]],
  ['new_action_items', 'action-items/', () => [actionItem(2, 0), actionItem(1, 0), actionItem(1, 2)]],
])('trigger %s', (key, listPath, items) => {
  const op = App.triggers[key].operation;

  it('subscribes with POST hooks/ {event, target_url}', async () => {
    const hook = { id: 42, event: key, target_url: TARGET };
    chorus()
      .post('/api/v1/zapier/hooks/', { event: key, target_url: TARGET })
      .matchHeader('content-type', /application\/json/)
      .reply(201, hook);
    const result = await appTester(op.performSubscribe, { authData, targetUrl: TARGET });
    expect(result).toEqual(hook);
  });

  it('shows why a subscribe was refused', async () => {
    chorus()
      .post('/api/v1/zapier/hooks/', { event: key, target_url: TARGET })
      .reply(400, {
        error: {
          code: 'invalid',
          message: 'Invalid input.',
          details: { target_url: ['Enter a full web address starting with https://.'] },
        },
      });
    await expect(appTester(op.performSubscribe, { authData, targetUrl: TARGET })).rejects.toThrow(
      /target_url: Enter a full web address starting with https/
    );
  });

  it('unsubscribes with DELETE hooks/{id}/', async () => {
    chorus().delete('/api/v1/zapier/hooks/42/').reply(204);
    const result = await appTester(op.performUnsubscribe, {
      authData,
      targetUrl: TARGET,
      subscribeData: { id: 42, event: key, target_url: TARGET },
    });
    expect(result).toEqual({});
  });

  it('treats an already-gone hook (404) as unsubscribed', async () => {
    chorus()
      .delete('/api/v1/zapier/hooks/42/')
      .reply(404, { error: { code: 'not_found', message: 'Not found.' } });
    await expect(
      appTester(op.performUnsubscribe, { authData, subscribeData: { id: 42 } })
    ).resolves.toEqual({});
  });

  it('fails an unsubscribe Chorus refuses for another reason', async () => {
    chorus()
      .delete('/api/v1/zapier/hooks/42/')
      .reply(401, { error: { code: 'not_authenticated', message: 'Invalid token.' } });
    await expect(
      appTester(op.performUnsubscribe, { authData, subscribeData: { id: 42 } })
    ).rejects.toThrow(/Invalid token/);
  });

  it(`lists with GET ${listPath} (newest first, as Chorus sends it)`, async () => {
    const body = items();
    chorus().get(`/api/v1/zapier/${listPath}`).reply(200, body);
    const result = await appTester(op.performList, { authData });
    expect(result).toEqual(body);
  });

  it('makes no request to perform a delivery', async () => {
    const body = items();
    const delivered = key === 'new_brief' ? body[0] : body; // one brief, or an array of items
    const result = await appTester(op.perform, { authData, cleanedRequest: delivered });
    expect(result).toEqual(key === 'new_brief' ? [body[0]] : body);
  });
});

describe('perform', () => {
  const perform = App.triggers.new_action_items.operation.perform;
  it('accepts an object or an array and ignores an empty delivery', async () => {
    const item = actionItem(3, 0);
    expect(await appTester(perform, { cleanedRequest: item })).toEqual([item]);
    expect(await appTester(perform, { cleanedRequest: [item] })).toEqual([item]);
    expect(await appTester(perform, { cleanedRequest: [] })).toEqual([]);
    expect(await appTester(perform, {})).toEqual([]);
  });
});
