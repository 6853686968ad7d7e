-- Argo CD health of a kubedx Diagnosis (resource.customizations.health.kubedx.io_Diagnosis).
-- Progressing until the controller has diagnosed the current spec generation
-- (status.observedGeneration, Ready condition); then Healthy or Degraded from
-- status.phase, with the root cause as the message. A refused spec (phase Error,
-- Ready=False) is Degraded with the controller's reason.
local hs = {}

local function condition(type_)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function text(s, default)
  if s == nil or s == "" then
    return default
  end
  return s
end

local generation = obj.metadata.generation
if obj.status == nil or obj.status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubedx controller to diagnose the target"
  return hs
end
if generation ~= nil and obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the diagnosis of generation " .. tostring(generation)
  return hs
end

local ready = condition("Ready")
local phase = obj.status.phase
if phase == "Error" or (ready ~= nil and ready.status == "False") then
  hs.status = "Degraded"
  if ready ~= nil then
    hs.message = text(ready.reason, "Error") .. ": " .. text(ready.message, text(obj.status.rootCause, "the diagnosis could not run"))
  else
    hs.message = text(obj.status.rootCause, "the diagnosis could not run")
  end
  return hs
end
if ready == nil or ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = "Waiting for the kubedx controller to diagnose the target"
  return hs
end
if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = "No Warning or Critical finding"
  return hs
end
if phase == "Degraded" then
  hs.status = "Degraded"
  local prefix = ""
  local s = obj.status.summary
  if s ~= nil then
    prefix = tostring(s.critical or 0) .. " critical, " .. tostring(s.warning or 0) .. " warning: "
  end
  hs.message = prefix .. text(obj.status.rootCause, "see status.findings")
  return hs
end
hs.status = "Progressing"
hs.message = "Phase " .. text(phase, "Pending")
return hs
