DROP TABLE support_actions;
