// Unicode identifier properties for non-ASCII code points (PEP 3131).
#pragma once

namespace jurigged::source {

bool starts_identifier_code_point(char32_t cp);     // XID_Start
bool continues_identifier_code_point(char32_t cp);  // XID_Continue

}  // namespace jurigged::source
