'use strict';

// What every Chorus request shares: the base URL, the Bearer header and the
// public API's error shape ({"error": {"code", "message", "details"}}).

const PRODUCTION_URL = 'https://chorus.ai';

// The Chorus address a connection talks to: the connection's own "Chorus URL" if
// set (staging, a private deployment), else CHORUS_BASE_URL from the app's
// environment (`zapier env:set`), else production.
const baseUrl = (bundle) => {
  const fromAuth = ((bundle && bundle.authData && bundle.authData.base_url) || '').trim();
  const url = fromAuth || process.env.CHORUS_BASE_URL || PRODUCTION_URL;
  return url.replace(/\/+$/, '');
};

const apiUrl = (bundle, path) => `${baseUrl(bundle)}/api/v1/zapier/${path}`;

// beforeRequest: sign every request with the personal API token.
const addBearerHeader = (request, z, bundle) => {
  const token = bundle.authData && bundle.authData.api_token;
  if (token) {
    request.headers = request.headers || {};
    request.headers.Authorization = `Bearer ${String(token).trim()}`;
  }
  return request;
};

const errorMessage = (response) => {
  let body = response.data;
  if (body === undefined || typeof body === 'string') {
    try {
      body = JSON.parse(response.content);
    } catch (e) {
      body = null;
    }
  }
  if (body && body.error && body.error.message) {
    const details = body.error.details;
    if (details && typeof details === 'object' && Object.keys(details).length) {
      const parts = Object.entries(details).map(
        ([field, msgs]) => `${field}: ${[].concat(msgs).join(' ')}`
      );
      return `${body.error.message} (${parts.join('; ')})`;
    }
    return body.error.message;
  }
  if (body && body.detail) return body.detail;
  return null;
};

// afterResponse: turn Chorus' errors into messages a Zap user can act on. Requests
// that handle their own statuses set `skipThrowForStatus`.
const handleErrors = (response, z) => {
  if (response.skipThrowForStatus || response.status < 400 || response.status === 429) {
    return response; // 429: the core's throttling middleware retries it
  }
  const message = errorMessage(response);
  if (response.status === 401) {
    throw new z.errors.Error(
      'Chorus refused the API token. Create a new one in Chorus under Settings > ' +
        'Personal Settings > API Tokens and reconnect.' + (message ? ` (${message})` : ''),
      'AuthenticationError',
      response.status
    );
  }
  if (response.status === 403) {
    throw new z.errors.Error(
      message ||
        'Zapier is available to organizations with the Chorus Enterprise package and API access.',
      'Forbidden',
      response.status
    );
  }
  if (message) {
    throw new z.errors.Error(message, 'ChorusError', response.status);
  }
  return response;
};

module.exports = { PRODUCTION_URL, baseUrl, apiUrl, addBearerHeader, handleErrors };
