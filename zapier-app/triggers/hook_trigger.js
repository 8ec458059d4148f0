'use strict';

const { apiUrl } = require('../common');

// The REST-hook plumbing both triggers share.
// Subscribe: POST hooks/ {event, target_url} -> 201 {id, event, target_url}
// (Chorus only accepts https target URLs; Zapier's always are).
const subscribe = (event) => async (z, bundle) => {
  const response = await z.request({
    url: apiUrl(bundle, 'hooks/'),
    method: 'POST',
    body: { event, target_url: bundle.targetUrl },
  });
  return response.data; // kept by Zapier as bundle.subscribeData
};

// Unsubscribe: DELETE hooks/{id}/ -> 204. A 404 means the hook is already gone
// (e.g. the token was revoked or Chorus ended it after a 410): nothing to do.
const unsubscribe = async (z, bundle) => {
  const id = bundle.subscribeData && bundle.subscribeData.id;
  if (id === undefined || id === null || id === '') {
    return {};
  }
  const response = await z.request({
    url: apiUrl(bundle, `hooks/${encodeURIComponent(id)}/`),
    method: 'DELETE',
    skipThrowForStatus: true,
  });
  if (response.status === 404 || (response.status >= 200 && response.status < 300)) {
    return {};
  }
  response.throwForStatus();
  return {};
};

// A delivery: one object (new_brief) or an array (new_action_items).
const perform = (z, bundle) => {
  const body = bundle.cleanedRequest;
  if (Array.isArray(body)) return body;
  if (body && typeof body === 'object') return [body];
  return [];
};

// The polling fallback and the Zap editor's samples: a JSON array, newest first.
const list = (path) => async (z, bundle) => {
  const response = await z.request({ url: apiUrl(bundle, path), method: 'GET' });
  return Array.isArray(response.data) ? response.data : [];
};

const meetingOutputFields = [
  { key: 'id', label: 'ID' },
  { key: 'engagement_id', label: 'Meeting ID', type: 'integer' },
  { key: 'title', label: 'Meeting Title' },
  { key: 'started_at', label: 'Meeting Start', type: 'datetime' },
  { key: 'duration_minutes', label: 'Duration (Minutes)', type: 'integer' },
  { key: 'recording_url', label: 'Recording URL' },
  { key: 'owner_email', label: 'Owner Email' },
  { key: 'owner_name', label: 'Owner Name' },
  { key: 'account_name', label: 'Account Name' },
];

// The meeting fields every trigger's sample shares (what meetingOutputFields describes).
const meetingSample = {
  engagement_id: 1042,
  title: 'Acme <> Initech: Renewal',
  started_at: '2026-03-02T15:00:00+00:00',
  duration_minutes: 32,
  recording_url: 'https://chorus.ai/recordings/1042/',
  owner_email: 'ann@acme.example',
  owner_name: 'Ann Example',
  account_name: 'Initech',
};

module.exports = { subscribe, unsubscribe, perform, list, meetingOutputFields, meetingSample };
