'use strict';

const { subscribe, unsubscribe, perform, list, meetingOutputFields, meetingSample } = require('./hook_trigger');

const sample = {
  id: '1042-0',
  ...meetingSample,
  text: 'Send the updated pricing',
  speaker: 'Ann Example',
};

module.exports = {
  key: 'new_action_items',
  noun: 'Action Item',
  display: {
    label: 'New Action Items',
    description:
      "Triggers once for each action item in a new post-meeting brief. Meetings shorter " +
      'than 10 minutes get no action items.',
  },
  operation: {
    type: 'hook',
    performSubscribe: subscribe('new_action_items'),
    performUnsubscribe: unsubscribe,
    perform,
    performList: list('action-items/'),
    sample,
    outputFields: [
      ...meetingOutputFields,
      { key: 'text', label: 'Action Item' },
      { key: 'speaker', label: 'Speaker' },
    ],
  },
};
